// Package progress draws a progress bar for long loops (training epochs,
// evaluation, batch prediction).
//
// On a terminal the bar redraws one line in place (at most ten times a
// second): label, bar, count, percentage, rate, ETA and a status string
// chosen by the caller, e.g. the running loss:
//
//	epoch 3/10 [=========>          ] 120/250  48%  85.3/s  ETA 0:01  loss 0.4312
//
// Elsewhere (a file, a pipe, a test buffer) it writes plain lines, at most
// one per 10% of progress or per 5 seconds, so logs stay short:
//
//	epoch 3/10: 120/250 (48%) 85.3/s ETA 0:01 loss 0.4312
//
// A Bar has no global state; it is meant to be used from one goroutine. A
// nil *Bar is a valid, silent bar.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Limits on output frequency.
const (
	redrawEvery = 100 * time.Millisecond // terminal mode: ≤ 10 redraws/s
	plainEvery  = 5 * time.Second        // plain mode: a line at least this far apart...
	plainSteps  = 10                     // ...unless progress crossed another 1/plainSteps
	barWidth    = 24
)

// Bar is a progress indicator for a known (or unknown, total ≤ 0) number
// of items.
type Bar struct {
	w         io.Writer
	total     int
	label     string
	term      bool
	transient bool
	now       func() time.Time

	count    int
	status   string
	start    time.Time
	last     time.Time // last output
	lastStep int       // plain mode: the 10% step of the last line
	lastLen  int       // terminal mode: width of the drawn line
	printed  int       // count shown by the last output
	done     bool
}

// Option configures a Bar.
type Option func(*Bar)

// Terminal forces terminal mode (in-place redraws) on or off instead of
// detecting it from the writer.
func Terminal(on bool) Option { return func(b *Bar) { b.term = on } }

// Transient makes Done erase the bar in terminal mode instead of leaving
// its final state on screen (useful when a summary line follows).
func Transient() Option { return func(b *Bar) { b.transient = true } }

// Clock replaces time.Now (for tests).
func Clock(now func() time.Time) Option { return func(b *Bar) { b.now = now } }

// New returns a bar for total items writing to w, labelled with label
// (e.g. "epoch 3/10"). Terminal mode is on when w is an *os.File that is a
// character device (a terminal). A total ≤ 0 means unknown: the bar shows
// the count and rate only. Nothing is written until the first Add.
func New(w io.Writer, total int, label string, opts ...Option) *Bar {
	b := &Bar{w: w, total: total, label: label, term: IsTerminal(w), now: time.Now, lastStep: -1, printed: -1}
	for _, o := range opts {
		o(b)
	}
	b.start = b.now()
	return b
}

// IsTerminal reports whether w is an *os.File on a character device (a
// terminal; /dev/null also qualifies, which is harmless).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Add records n more finished items and sets the status string shown after
// the numbers ("" keeps none). It redraws when the throttle allows, and
// always when the total is reached. Add on a nil *Bar does nothing, so
// callers can keep one code path with the bar switched off.
func (b *Bar) Add(n int, status string) {
	if b == nil || b.done {
		return
	}
	b.count += n
	b.status = status
	now := b.now()
	finished := b.total > 0 && b.count >= b.total
	if b.term {
		if finished || b.printed < 0 || now.Sub(b.last) >= redrawEvery {
			b.draw(now)
		}
		return
	}
	step := -1
	if b.total > 0 {
		step = min(b.count, b.total) * plainSteps / b.total
	}
	if (step > b.lastStep && b.total > 0) || now.Sub(b.last) >= plainEvery {
		b.lastStep = max(step, b.lastStep)
		b.line(now)
	}
}

// Count returns the number of items added so far (0 for a nil *Bar).
func (b *Bar) Count() int {
	if b == nil {
		return 0
	}
	return b.count
}

// Done finishes the bar: in terminal mode it draws the final state and
// ends the line (or erases it with Transient); in plain mode it writes a
// final line unless the last one already showed the final count. Later
// calls to Add and Done do nothing, as do calls on a nil *Bar.
func (b *Bar) Done() {
	if b == nil || b.done {
		return
	}
	now := b.now()
	b.done = true // numbers shows the elapsed time from now on
	if b.term {
		if b.transient {
			if b.lastLen > 0 {
				fmt.Fprintf(b.w, "\r%s\r", strings.Repeat(" ", b.lastLen))
			}
		} else {
			b.draw(now)
			fmt.Fprintln(b.w)
		}
	} else if b.printed != b.count || b.total <= 0 {
		b.line(now)
	}
}

// draw redraws the terminal line.
func (b *Bar) draw(now time.Time) {
	var s strings.Builder
	if b.label != "" {
		s.WriteString(b.label)
		s.WriteByte(' ')
	}
	if b.total > 0 {
		frac := min(float64(b.count)/float64(b.total), 1)
		fill := int(frac * barWidth)
		s.WriteByte('[')
		s.WriteString(strings.Repeat("=", fill))
		if fill < barWidth {
			s.WriteByte('>')
			s.WriteString(strings.Repeat(" ", barWidth-fill-1))
		}
		s.WriteString("] ")
		fmt.Fprintf(&s, "%d/%d %3.0f%%", b.count, b.total, 100*frac)
	} else {
		fmt.Fprintf(&s, "%d", b.count)
	}
	s.WriteString("  ")
	s.WriteString(b.numbers(now, "  "))
	line := s.String()
	pad := max(b.lastLen-len(line), 0)
	fmt.Fprintf(b.w, "\r%s%s", line, strings.Repeat(" ", pad))
	b.lastLen = len(line)
	b.last, b.printed = now, b.count
}

// line writes one plain line.
func (b *Bar) line(now time.Time) {
	var s strings.Builder
	if b.label != "" {
		s.WriteString(b.label)
		s.WriteString(": ")
	}
	if b.total > 0 {
		fmt.Fprintf(&s, "%d/%d (%.0f%%) ", b.count, b.total, 100*min(float64(b.count)/float64(b.total), 1))
	} else {
		fmt.Fprintf(&s, "%d ", b.count)
	}
	s.WriteString(b.numbers(now, " "))
	fmt.Fprintln(b.w, strings.TrimRight(s.String(), " "))
	b.last, b.printed = now, b.count
}

// numbers formats rate, ETA (or elapsed time when finished) and status.
func (b *Bar) numbers(now time.Time, sep string) string {
	el := now.Sub(b.start)
	var parts []string
	if el > 0 && b.count > 0 {
		rate := float64(b.count) / el.Seconds()
		parts = append(parts, formatRate(rate))
		if b.total > 0 && b.count < b.total && !b.done {
			eta := time.Duration(float64(b.total-b.count) / rate * float64(time.Second))
			parts = append(parts, "ETA "+formatDuration(eta))
		}
	}
	if b.total > 0 && b.count >= b.total || b.done {
		parts = append(parts, "in "+formatDuration(el))
	}
	if b.status != "" {
		parts = append(parts, b.status)
	}
	return strings.Join(parts, sep)
}

// formatRate formats items per second with about three significant digits.
func formatRate(r float64) string {
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f/s", r)
	case r >= 10:
		return fmt.Sprintf("%.1f/s", r)
	}
	return fmt.Sprintf("%.2f/s", r)
}

// formatDuration formats d as m:ss or h:mm:ss (rounded to seconds).
func formatDuration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s < 0 {
		s = 0
	}
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
