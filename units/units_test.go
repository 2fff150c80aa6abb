package units

import "testing"

func TestBytes(t *testing.T) {
	for in, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 1536: "1.5 kB", 120_000_000: "120.0 MB", 5_959_842: "6.0 MB", 3_000_000_000: "3.0 GB"} {
		if got := Bytes(in); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", in, got, want)
		}
	}
}
