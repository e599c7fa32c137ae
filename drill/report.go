package drill

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what a drill found.
type Result struct {
	// Rows has one row per window: the steady load first, then each fault.
	Rows []Row
	// Total sums the rows (its Failover is the longest).
	Total Row
	// Checks are the checks over the final state.
	Checks []Check
	// Problems lists every lost or duplicated operation and every payout
	// that did not complete, precisely.
	Problems []string
	// Notes are events worth knowing (a member that exited by itself).
	Notes []string
	Ops   OpCounts
	// Table is the report as printed.
	Table string
	// LogDir holds the members' logs; it is removed after a run that
	// found nothing wrong, unless kept.
	LogDir   string
	keepLogs bool
}

// Row is one window of the run.
type Row struct {
	Fault string
	// Failover is, over the shops whose requests failed or took longer
	// than a second after the fault, the longest time from the fault
	// until that shop's requests answered promptly again; zero when none
	// were disturbed. Only what happened before the next fault counts.
	// Unrecovered: some shop had not answered promptly again when the
	// next fault began (Failover is then the window's length).
	Failover    time.Duration
	Disturbed   bool
	Unrecovered bool
	// Failed counts attempts without an answer, 5xx, 429 and "still in
	// progress" answers, and charge.success webhooks the cluster did not
	// accept at once; Status5xx counts those that were 5xx.
	Failed, Status5xx  int
	Lost, Duplicated   int
	Attempts, Requests int
}

// Check is one check of the final state.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// OpCounts counts the acknowledged operations by kind.
type OpCounts struct {
	Reads, Checkouts, Payments, Adjustments, Payouts int
	// Refused are definitive 4xx answers (out of stock, insufficient
	// funds); they changed nothing.
	Refused int
}

func (c *OpCounts) count(o *op) {
	if o.kind != "read" && o.status >= 400 {
		c.Refused++
	}
	if !o.acked {
		return
	}
	switch o.kind {
	case "read":
		c.Reads++
	case "checkout":
		c.Checkouts++
		if o.paid {
			c.Payments++
		}
	case "adjust":
		c.Adjustments++
	case "payout":
		c.Payouts++
	}
}

// OK is true when nothing was lost or duplicated and every check held.
func (r *Result) OK() bool {
	if r.Total.Lost > 0 || r.Total.Duplicated > 0 {
		return false
	}
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// slowAttempt is how long an answer may take before it counts as a
// disturbance for the failover time.
const slowAttempt = time.Second

// measure fills each window's failover time and failure counts from the
// attempts.
func (d *drill) measure(res *Result, attempts []attempt) {
	for i := range d.windows {
		ws := d.windows[i].start
		we := d.loadEnd
		if i+1 < len(d.windows) {
			we = d.windows[i+1].start
		}
		row := &res.Rows[i]
		lastBad := map[int]time.Time{}
		slow := 0
		for _, a := range attempts {
			if a.start.Before(ws) || !a.start.Before(we) {
				continue
			}
			row.Attempts++
			if a.failed {
				row.Failed++
			}
			if a.status >= 500 {
				row.Status5xx++
			}
			if a.end.Sub(a.start) > slowAttempt {
				slow++
			}
			// A disturbance still under way when the next fault began
			// is that fault's as much as this one's: left out.
			if (a.failed || a.end.Sub(a.start) > slowAttempt) && a.end.Before(we) && a.end.After(lastBad[a.shop]) {
				lastBad[a.shop] = a.end
			}
		}
		if slow > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: %d answers took longer than %s", d.windows[i].name, slow, slowAttempt))
		}
		if i == 0 {
			continue
		}
		for shop, bad := range lastBad {
			recovered := time.Time{}
			for _, a := range attempts {
				if a.shop == shop && !a.failed && a.end.Sub(a.start) <= slowAttempt && !a.start.Before(bad) &&
					a.end.Before(we) && (recovered.IsZero() || a.end.Before(recovered)) {
					recovered = a.end
				}
			}
			row.Disturbed = true
			if recovered.IsZero() {
				row.Unrecovered = true
				recovered = we
			}
			row.Failover = max(row.Failover, recovered.Sub(ws))
		}
	}
}

// finish sums the rows and renders the table.
func (r *Result) finish() {
	r.Total = Row{Fault: "all"}
	for _, row := range r.Rows {
		r.Total.Failed += row.Failed
		r.Total.Status5xx += row.Status5xx
		r.Total.Lost += row.Lost
		r.Total.Duplicated += row.Duplicated
		r.Total.Attempts += row.Attempts
		if row.Disturbed {
			r.Total.Disturbed = true
			r.Total.Unrecovered = r.Total.Unrecovered || row.Unrecovered
			r.Total.Failover = max(r.Total.Failover, row.Failover)
		}
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fault\tfailover time\trequests failed\t5xx\tlost\tduplicated\t")
	line := func(row Row, first bool) {
		fo := "-"
		switch {
		case first:
		case row.Unrecovered:
			fo = "> " + row.Failover.Round(10*time.Millisecond).String()
		case row.Disturbed:
			fo = row.Failover.Round(10 * time.Millisecond).String()
		default:
			fo = "none"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d of %d\t%d\t%d\t%d\t\n", row.Fault, fo, row.Failed, row.Attempts, row.Status5xx, row.Lost, row.Duplicated)
	}
	for i, row := range r.Rows {
		line(row, i == 0)
	}
	line(r.Total, false)
	_ = tw.Flush()
	// The fault column reads better left-aligned: re-pad it.
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	width := 0
	for _, row := range append(r.Rows, r.Total, Row{Fault: "fault"}) {
		width = max(width, len(row.Fault))
	}
	var out strings.Builder
	for i, l := range lines {
		name := "fault"
		switch {
		case i == 0:
		case i-1 < len(r.Rows):
			name = r.Rows[i-1].Fault
		default:
			name = r.Total.Fault
		}
		rest := strings.TrimPrefix(strings.TrimLeft(l, " "), name)
		fmt.Fprintf(&out, "%-*s%s\n", width, name, rest)
	}
	fmt.Fprintf(&out, "\nacknowledged: %d storefront reads, %d checkouts (%d paid), %d inventory changes, %d payouts; %d refused for good (4xx)\n",
		r.Ops.Reads, r.Ops.Checkouts, r.Ops.Payments, r.Ops.Adjustments, r.Ops.Payouts, r.Ops.Refused)
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(&out, "%s %s: %s\n", mark, c.Name, c.Detail)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&out, "note: %s\n", n)
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(&out, "\n%d problems:\n", len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintf(&out, "  %s\n", p)
		}
	}
	if !r.OK() || r.keepLogs {
		fmt.Fprintf(&out, "\nmember logs: %s\n", r.LogDir)
	}
	if r.OK() {
		out.WriteString("\nOK: nothing lost, nothing duplicated, every check holds\n")
	} else {
		out.WriteString("\nFAILED\n")
	}
	r.Table = out.String()
}
