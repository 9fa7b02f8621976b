package lambdatest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// peakRSS reads a process's peak resident set size (VmHWM) in bytes from
// /proc (Linux).
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("lambdatest: peak RSS: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:"))
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte("kB")))), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("lambdatest: peak RSS: VmHWM %q: %w", rest, err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("lambdatest: peak RSS: no VmHWM in /proc status")
}

// resetPeakRSS restarts a process's VmHWM from its current RSS (Linux
// 4.0+, writing 5 to clear_refs), so that the next reading is the peak
// since now.
func resetPeakRSS(pid int) error {
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/clear_refs", pid), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("lambdatest: resetting peak RSS: %w", err)
	}
	_, werr := f.WriteString("5")
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("lambdatest: resetting peak RSS: %w", err)
	}
	return nil
}
