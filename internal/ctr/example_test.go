package ctr_test

import (
	"fmt"
	"os"

	"github.com/vmx-dev/vmx/internal/ctr"
)

// A Kinesis event with five records: a VMX3-IVR voicemail, a record that
// is not base64, one that is not JSON, a VMX2 KVS voicemail, and NDJSON of
// two records that are not voicemails.
func Example() {
	data, err := os.ReadFile("testdata/event.json")
	if err != nil {
		panic(err)
	}
	items, err := ctr.Parse(data)
	if err != nil {
		panic(err)
	}
	for _, it := range items {
		if it.Err != nil {
			fmt.Printf("record %d: error\n", it.Pos.Record)
			continue
		}
		res := ctr.Interpret(it.CTR, ctr.DefaultConfig())
		switch res.Kind {
		case ctr.Voicemail:
			r := res.Request
			fmt.Printf("record %d: voicemail %s from %s, %s audio, mode %s\n", it.Pos.Record, r.Prefix, r.Caller, r.Audio.Kind, r.Mode)
		default:
			fmt.Printf("record %d: %v (%s): %s\n", it.Pos.Record, res.Kind, res.Cause, res.Reason)
		}
	}
	// Output:
	// record 1: voicemail vmx3_ from +15555551212, s3 audio, mode guided_task
	// record 2: error
	// record 3: error
	// record 4: voicemail vmx_ from +15555550123, kvs audio, mode task
	// record 5: ignored (flag_not_1): vmx3_flag is "0", not "1"
	// record 5: ignored (no_flag): no vmx3_flag, vmx_flag or vm_flag attribute
}
