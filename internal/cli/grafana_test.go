package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/store"
)

const dashboardPath = "../../deploy/grafana/vmx-dashboard.json"

// recordingRegisterer keeps the collectors registered through it, so that
// their descriptions can be read: a vector without children gathers nothing.
type recordingRegisterer struct {
	*prometheus.Registry
	collectors []prometheus.Collector
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return r.Registry.Register(c)
}

var descRE = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", .*variableLabels: \{([^{}]*)\}\}$`)

// servedMetrics returns every metric name vmx serve's /metrics can expose,
// with its label names: histograms with their _bucket, _sum and _count.
func servedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "vmx.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := &recordingRegisterer{Registry: prometheus.NewRegistry()}
	if err := registerMetrics(reg, pipeline.NewMetrics(), st); err != nil {
		t.Fatal(err)
	}
	known := map[string][]string{}
	add := func(name string, labels []string) {
		known[name] = append(known[name], labels...)
	}
	for _, c := range reg.collectors {
		ch := make(chan *prometheus.Desc, 512)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := descRE.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read metric description %s", d)
			}
			var labels []string
			if m[2] != "" {
				labels = strings.Split(m[2], ",")
			}
			add(m[1], labels)
		}
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		var labels []string
		for _, m := range f.Metric {
			for _, l := range m.Label {
				labels = append(labels, l.GetName())
			}
		}
		add(f.GetName(), labels)
		if f.GetType() == dto.MetricType_SUMMARY {
			add(f.GetName()+"_sum", labels)
			add(f.GetName()+"_count", labels)
		}
	}
	// A vector without children gathers nothing, so its type is unknown:
	// its name is a histogram's when the dashboard reads it as one.
	for name, labels := range cloneLabels(known) {
		add(name+"_bucket", append(slices.Clone(labels), "le"))
		add(name+"_sum", labels)
		add(name+"_count", labels)
	}
	return known
}

func cloneLabels(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}

var (
	promQuoted   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	promMatchers = regexp.MustCompile(`\{([^}]*)\}`)
	promMatcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promVariable = regexp.MustCompile(`\$\{?\w+\}?`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	labelValues  = regexp.MustCompile(`^\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)
)

// promWords are the PromQL functions, aggregations and keywords the
// dashboard may use; any other name in an expression is a metric.
var promWords = wordSet(`sum avg min max count count_values stddev stdvar topk bottomk quantile
		rate irate increase delta idelta deriv predict_linear histogram_quantile resets changes
		avg_over_time min_over_time max_over_time sum_over_time count_over_time quantile_over_time last_over_time
		abs ceil floor round clamp clamp_min clamp_max sort sort_desc label_replace label_join
		absent absent_over_time scalar vector time timestamp and or unless offset bool`)

func wordSet(s string) map[string]bool {
	set := map[string]bool{}
	for _, w := range strings.Fields(s) {
		set[w] = true
	}
	return set
}

// checkPromQL returns what in expr is not something vmx serves: unknown
// metrics, and labels none of the expression's metrics has. Prometheus
// adds job and instance at scrape time.
func checkPromQL(expr string, known map[string][]string) []string {
	var problems []string
	used := []string{"job", "instance"}
	if m := labelValues.FindStringSubmatch(expr); m != nil {
		expr, used = m[1], append(used, m[2])
	}
	e := promQuoted.ReplaceAllString(expr, `""`)
	for _, m := range promMatchers.FindAllStringSubmatch(e, -1) {
		for _, l := range promMatcher.FindAllStringSubmatch(m[1], -1) {
			used = append(used, l[1])
		}
	}
	for _, m := range promGrouping.FindAllStringSubmatch(e, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				used = append(used, l)
			}
		}
	}
	e = promGrouping.ReplaceAllString(e, " ")
	e = promMatchers.ReplaceAllString(e, " ")
	e = promRange.ReplaceAllString(e, " ")
	e = promVariable.ReplaceAllString(e, " ")
	have := map[string]bool{"job": true, "instance": true}
	metrics := 0
	for _, name := range promIdent.FindAllString(e, -1) {
		if promWords[name] {
			continue
		}
		labels, ok := known[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("metric %s is not one vmx serves", name))
			continue
		}
		metrics++
		for _, l := range labels {
			have[l] = true
		}
	}
	if metrics == 0 && len(problems) == 0 {
		problems = append(problems, "no metric")
	}
	for _, l := range used {
		if !have[l] && len(problems) == 0 {
			problems = append(problems, fmt.Sprintf("label %s is on none of its metrics", l))
		}
	}
	return problems
}

type dashPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	GridPos    *struct{ H, W, X, Y int }
	Targets    []struct {
		Expr       string          `json:"expr"`
		RefID      string          `json:"refId"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"`
}

type dashboard struct {
	UID        string      `json:"uid"`
	Title      string      `json:"title"`
	Panels     []dashPanel `json:"panels"`
	Templating struct {
		List []struct {
			Type  string          `json:"type"`
			Name  string          `json:"name"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

func readDashboard(t *testing.T) *dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return &d
}

const datasourceRef = `{"type":"prometheus","uid":"${datasource}"}`

func sameJSON(a json.RawMessage, b string) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal([]byte(b), &y) == nil && fmt.Sprint(x) == fmt.Sprint(y)
}

// The dashboard reads only metrics and labels vmx serve registers, through
// the datasource variable, and shows every vmx_ metric.
func TestGrafanaDashboard(t *testing.T) {
	known := servedMetrics(t)
	for _, want := range []string{"vmx_intake_records_total", "vmx_deliveries_total", "vmx_step_duration_seconds_bucket",
		"vmx_queue_depth", "process_resident_memory_bytes", "process_cpu_seconds_total", "go_goroutines"} {
		if _, ok := known[want]; !ok {
			t.Fatalf("registry lacks %s: the test's reading of the registry is broken (%d names)", want, len(known))
		}
	}
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q title %q: both must be set", d.UID, d.Title)
	}
	var exprs []string
	hasDatasourceVar := false
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			hasDatasourceVar = v.Name == "datasource" && string(v.Query) == `"prometheus"`
		case "query":
			var q struct{ Query string }
			if err := json.Unmarshal(v.Query, &q); err != nil || q.Query == "" {
				t.Errorf("variable %s: query %s: want {\"query\": …}", v.Name, v.Query)
			}
			exprs = append(exprs, q.Query)
		}
	}
	if !hasDatasourceVar {
		t.Error("no datasource variable named datasource of type prometheus")
	}
	ids := map[int]string{}
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("panel %q has id %d, as %q does", p.Title, p.ID, prev)
			}
			ids[p.ID] = p.Title
			if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
				t.Errorf("panel %q has no gridPos", p.Title)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if !sameJSON(p.Datasource, datasourceRef) {
				t.Errorf("panel %q: datasource %s, want %s", p.Title, p.Datasource, datasourceRef)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no queries", p.Title)
			}
			for _, q := range p.Targets {
				if !sameJSON(q.Datasource, datasourceRef) {
					t.Errorf("panel %q query %s: datasource %s, want %s", p.Title, q.RefID, q.Datasource, datasourceRef)
				}
				exprs = append(exprs, q.Expr)
			}
		}
	}
	walk(d.Panels)

	shown := map[string]bool{}
	for _, e := range exprs {
		for _, p := range checkPromQL(e, known) {
			t.Errorf("%s: %s", e, p)
		}
		for _, name := range promIdent.FindAllString(e, -1) {
			shown[strings.TrimSuffix(name, "_bucket")] = true
		}
	}
	for name := range known {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if strings.HasPrefix(name, "vmx_") && name == base && !shown[name] && !shown[name+"_total"] {
			t.Errorf("vmx serves %s but the dashboard does not show it: add a panel", name)
		}
	}
}

// The expression check finds what the dashboard test relies on it to find.
func TestGrafanaPromQLCheck(t *testing.T) {
	known := map[string][]string{
		"vmx_deliveries_total":             {"sink", "outcome"},
		"vmx_step_duration_seconds_bucket": {"step", "le"},
	}
	for _, c := range []struct {
		expr string
		want string // a problem, or "" for none
	}{
		{`sum by (sink, outcome) (rate(vmx_deliveries_total{job=~"$job"}[$__rate_interval]))`, ""},
		{`histogram_quantile(0.9, sum by (le) (rate(vmx_step_duration_seconds_bucket{step="total"}[5m])))`, ""},
		{`label_values(vmx_deliveries_total, sink)`, ""},
		{`sum(rate(vmx_delivery_total[5m]))`, "metric vmx_delivery_total is not one vmx serves"},
		{`sum by (mode) (rate(vmx_deliveries_total[5m]))`, "label mode is on none of its metrics"},
		{`rate(vmx_deliveries_total{step="deliver"}[5m])`, "label step is on none of its metrics"},
		{`label_values(vmx_deliveries_total, queue)`, "label queue is on none of its metrics"},
		{`sum(rate(vmx_deliveries_total{sink="by (x)"}[5m]))`, ""},
		{`vector(1)`, "no metric"},
	} {
		got := checkPromQL(c.expr, known)
		switch {
		case c.want == "" && len(got) > 0:
			t.Errorf("%s: %v, want no problem", c.expr, got)
		case c.want != "" && !slices.Contains(got, c.want):
			t.Errorf("%s: %v, want %q", c.expr, got, c.want)
		}
	}
}
