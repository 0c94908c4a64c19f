package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock                   { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func lines(s string) []string                { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

func TestPlainDeciles(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	b := New(&buf, 100, "epoch 1/3", Clock(c.now))
	if b.term {
		t.Fatal("a bytes.Buffer is not a terminal")
	}
	for i := range 100 {
		c.advance(10 * time.Millisecond)
		b.Add(1, "loss "+strings.Repeat("9", i%3))
	}
	b.Done()
	b.Done()
	b.Add(5, "ignored")
	ls := lines(buf.String())
	// One line at the start, then one per 10%: 0%, 10%, ..., 100%.
	if len(ls) != 11 {
		t.Fatalf("%d lines, want 11:\n%s", len(ls), buf.String())
	}
	if strings.Contains(buf.String(), "\r") {
		t.Error("plain mode wrote a carriage return")
	}
	if want := "epoch 1/3: 1/100 (1%) 100/s ETA 0:01 loss"; ls[0] != want {
		t.Errorf("first line %q, want %q", ls[0], want)
	}
	if want := "epoch 1/3: 50/100 (50%) 100/s ETA 0:01 loss 9"; ls[5] != want {
		t.Errorf("middle line %q, want %q", ls[5], want)
	}
	if want := "epoch 1/3: 100/100 (100%) 100/s in 0:01 loss"; ls[10] != want {
		t.Errorf("last line %q, want %q", ls[10], want)
	}
	if b.Count() != 100 {
		t.Errorf("Count %d after Done, want 100", b.Count())
	}
}

func TestPlainEveryFiveSeconds(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	b := New(&buf, 1000, "train", Clock(c.now))
	for range 20 {
		c.advance(time.Second)
		b.Add(1, "")
	}
	// 20 items of 1000 stay in the first 10%: lines at 1 s (start), 6 s,
	// 11 s, 16 s.
	ls := lines(buf.String())
	if len(ls) != 4 {
		t.Fatalf("%d lines, want 4:\n%s", len(ls), buf.String())
	}
	if want := "train: 6/1000 (1%) 1.00/s ETA 16:34"; ls[1] != want {
		t.Errorf("second line %q, want %q", ls[1], want)
	}
	// Done before the total (an early stop): elapsed time, no ETA.
	b.Done()
	ls = lines(buf.String())
	if want := "train: 20/1000 (2%) 1.00/s in 0:20"; ls[len(ls)-1] != want {
		t.Errorf("final line %q, want %q", ls[len(ls)-1], want)
	}
}

func TestPlainUnknownTotal(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	b := New(&buf, 0, "", Clock(c.now))
	for range 30 {
		c.advance(500 * time.Millisecond)
		b.Add(4, "x")
	}
	b.Done()
	ls := lines(buf.String())
	// Lines at 0.5 s, 5.5 s, 10.5 s; final at 15 s.
	if len(ls) != 4 {
		t.Fatalf("%d lines, want 4:\n%s", len(ls), buf.String())
	}
	if want := "120 8.00/s in 0:15 x"; ls[3] != want {
		t.Errorf("final line %q, want %q", ls[3], want)
	}
}

func TestTerminalThrottledRedraws(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	b := New(&buf, 200, "epoch 2/5", Clock(c.now), Terminal(true))
	for range 200 {
		c.advance(5 * time.Millisecond) // 200 adds in 1 s
		b.Add(1, "loss 0.1234")
	}
	out := buf.String()
	if strings.Contains(out, "\n") {
		t.Fatal("terminal mode ended a line before Done")
	}
	// At most 10 redraws per second, plus the first and the final one.
	if n := strings.Count(out, "\r"); n < 5 || n > 12 {
		t.Errorf("%d redraws in 1 s, want about 10", n)
	}
	b.Done()
	out = buf.String()
	if !strings.HasSuffix(out, "\n") {
		t.Error("Done did not end the line")
	}
	frames := strings.Split(strings.TrimSuffix(out, "\n"), "\r")
	last := strings.TrimRight(frames[len(frames)-1], " ")
	want := "epoch 2/5 [========================] 200/200 100%  200/s  in 0:01  loss 0.1234"
	if last != want {
		t.Errorf("final frame\n%q\nwant\n%q", last, want)
	}
	mid := frames[5]
	if !strings.Contains(mid, "ETA 0:0") || !strings.Contains(mid, "=>") || !strings.Contains(mid, "loss 0.1234") {
		t.Errorf("middle frame %q lacks ETA, bar or status", mid)
	}
}

func TestTerminalClearsLongerLine(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	b := New(&buf, 10, "e", Clock(c.now), Terminal(true))
	b.Add(1, "a very long status string")
	c.advance(time.Second)
	b.Add(1, "short")
	frames := strings.Split(buf.String(), "\r")
	if len(frames) != 3 || len(frames[2]) < len(frames[1]) {
		t.Errorf("second frame does not cover the first: %q", buf.String())
	}
}

func TestTerminalTransient(t *testing.T) {
	var buf bytes.Buffer
	c := newClock()
	b := New(&buf, 3, "eval", Clock(c.now), Terminal(true), Transient())
	b.Add(3, "")
	n := buf.Len()
	b.Done()
	tail := buf.String()[n:]
	if strings.Contains(tail, "\n") || !strings.HasPrefix(tail, "\r") || !strings.HasSuffix(tail, "\r") || strings.TrimSpace(tail) != "" {
		t.Errorf("transient Done wrote %q, want the line blanked", tail)
	}
}

func TestIsTerminal(t *testing.T) {
	if IsTerminal(&bytes.Buffer{}) {
		t.Error("bytes.Buffer reported as a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("regular file reported as a terminal")
	}
	var nilFile *os.File
	if IsTerminal(nilFile) {
		t.Error("nil *os.File reported as a terminal")
	}
}

func TestFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0:00", 1499 * time.Millisecond: "0:01", 61 * time.Second: "1:01", 3725 * time.Second: "1:02:05", -time.Second: "0:00"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
	for r, want := range map[float64]string{0.5: "0.50/s", 12.34: "12.3/s", 1234.5: "1234/s"} {
		if got := formatRate(r); got != want {
			t.Errorf("formatRate(%v) = %q, want %q", r, got, want)
		}
	}
}

func TestNilBar(t *testing.T) {
	var b *Bar
	b.Add(3, "x")
	b.Done()
	if b.Count() != 0 {
		t.Error("nil bar counted")
	}
}
