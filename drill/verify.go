package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vayvahq/vayva/persistence/postgres"
)

// settle waits, up to the settle time, until every payment the sandbox
// took has confirmed its order, every acknowledged payout has completed
// and the stock adds up; then, up to queueGrace longer, until the queues
// are empty (an entry pending on a killed consumer is claimed by another
// one only after the queue's ClaimMinIdle, 1m by default). What is still
// open then is noted; verify reports what it means.
func (d *drill) settle(ctx context.Context) {
	db, err := postgres.Open(ctx, d.databaseURL, postgres.WithStatementTimeout(0))
	if err != nil {
		d.note("settle: open database: %v", err)
		return
	}
	defer db.Close()
	ops, _ := d.rec.snapshot()
	start := time.Now()
	deadline := start.Add(d.cfg.settle())
	var settled time.Time
	for {
		state, queues := d.openWork(ctx, db.Pool(), ops)
		switch {
		case state == "" && queues == "":
			d.logf("settled in %s", time.Since(start).Round(10*time.Millisecond))
			return
		case state == "" && settled.IsZero():
			settled = time.Now()
			d.logf("orders, payouts and stock settled in %s; waiting for the queues", time.Since(start).Round(10*time.Millisecond))
		case state == "" && time.Since(settled) > d.cfg.queueGrace():
			d.note("queues not empty %s after the rest settled: %s", d.cfg.queueGrace(), queues)
			return
		case ctx.Err() != nil:
			return
		case state != "" && time.Now().After(deadline):
			d.note("not settled after %s: %s", d.cfg.settle(), strings.TrimSuffix(state+"; "+queues, "; "))
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// openWork says what has not settled yet in the database, and in the
// queues; "" when nothing.
func (d *drill) openWork(ctx context.Context, pool *pgxpool.Pool, ops []*op) (string, string) {
	var paid, payouts []string
	for _, o := range ops {
		switch {
		case o.kind == "checkout" && o.paid:
			paid = append(paid, o.orderID)
		case o.kind == "payout" && o.acked && o.payoutID != "":
			payouts = append(payouts, o.payoutID)
		}
	}
	var unpaid, pending int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM orders.orders WHERE id = ANY($1) AND paid_at IS NULL`, paid).Scan(&unpaid); err != nil {
		return err.Error(), ""
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ledger.payouts WHERE id = ANY($1) AND status = 'pending'`, payouts).Scan(&pending); err != nil {
		return err.Error(), ""
	}
	var open, queues []string
	if unpaid > 0 {
		open = append(open, fmt.Sprintf("%d paid orders not confirmed", unpaid))
	}
	if pending > 0 {
		open = append(open, fmt.Sprintf("%d payouts pending", pending))
	}
	if st, err := d.stock(ctx, pool, ops); err != nil || !st.OK {
		open = append(open, "stock does not add up yet")
	}
	st, body, err := d.get(ctx, d.lb.url+"/ops/queues", d.opsToken)
	var qs []struct {
		Name                           string
		Length, Pending, Delayed, Dead int64
	}
	if err != nil || st != http.StatusOK || json.Unmarshal(body, &qs) != nil {
		queues = append(queues, fmt.Sprintf("queues unknown (%d %v)", st, err))
	}
	for _, q := range qs {
		if q.Length > 0 || q.Pending > 0 || q.Delayed > 0 {
			queues = append(queues, fmt.Sprintf("queue %s: length %d, pending %d, delayed %d", q.Name, q.Length, q.Pending, q.Delayed))
		}
	}
	return strings.Join(open, "; "), strings.Join(queues, "; ")
}

// verify compares every acknowledged operation with the database and runs
// the ledger checks.
func (d *drill) verify(ctx context.Context) (*Result, error) {
	db, err := postgres.Open(ctx, d.databaseURL, postgres.WithStatementTimeout(0))
	if err != nil {
		return nil, fmt.Errorf("drill: open database: %w", err)
	}
	defer db.Close()
	pool := db.Pool()
	ops, attempts := d.rec.snapshot()
	res := &Result{}
	for _, w := range d.windows {
		res.Rows = append(res.Rows, Row{Fault: w.name})
	}
	lost := func(t time.Time, format string, args ...any) {
		res.Rows[d.windowOf(t)].Lost++
		res.Problems = append(res.Problems, "lost: "+fmt.Sprintf(format, args...))
	}
	dup := func(t time.Time, format string, args ...any) {
		res.Rows[d.windowOf(t)].Duplicated++
		res.Problems = append(res.Problems, "duplicated: "+fmt.Sprintf(format, args...))
	}
	unresolved := map[string]int{}
	for _, o := range ops {
		res.Ops.count(o)
		if o.kind != "read" && o.status == 0 {
			unresolved[fmt.Sprintf("%s/%d", o.kind, o.shop)]++
		}
	}

	if err := d.verifyOrders(ctx, pool, ops, unresolved, lost, dup); err != nil {
		return nil, err
	}
	if err := d.verifyAdjustments(ctx, pool, ops, unresolved, lost, dup); err != nil {
		return nil, err
	}
	if err := d.verifyPayouts(ctx, pool, ops, unresolved, lost, dup, res); err != nil {
		return nil, err
	}

	stock, err := d.stock(ctx, pool, ops)
	if err != nil {
		return nil, err
	}
	res.Checks = append(res.Checks, stock)
	holds, err := orderHolds(ctx, pool)
	if err != nil {
		return nil, err
	}
	res.Checks = append(res.Checks, holds)
	report, err := db.CheckLedger(ctx)
	if err != nil {
		return nil, fmt.Errorf("drill: ledger check: %w", err)
	}
	res.Checks = append(res.Checks, Check{Name: "ledger checks", OK: report.OK,
		Detail: fmt.Sprintf("%d transactions checked; %s", report.CheckedTransactions, orNone(report.Problems))})
	n := 0
	for _, v := range unresolved {
		n += v
	}
	res.Checks = append(res.Checks, Check{Name: "every write got a definitive answer", OK: n == 0,
		Detail: fmt.Sprintf("%d without one after %s of retries", n, d.cfg.settle())})
	res.Checks = append(res.Checks, d.raceCheck())

	d.measure(res, attempts)
	res.LogDir, res.keepLogs = d.logDir, d.cfg.Keep
	d.mu.Lock()
	res.Notes = append(res.Notes, d.notes...)
	d.mu.Unlock()
	res.finish()
	return res, nil
}

func (d *drill) verifyOrders(ctx context.Context, pool *pgxpool.Pool, ops []*op, unresolved map[string]int,
	lost, dup func(time.Time, string, ...any)) error {
	type order struct {
		store   string
		created time.Time
		paid    bool
		status  string
	}
	orders := map[string]order{}
	rows, err := pool.Query(ctx, `SELECT id, store_id, created_at, paid_at IS NOT NULL, status FROM orders.orders`)
	if err != nil {
		return fmt.Errorf("drill: orders: %w", err)
	}
	for rows.Next() {
		var id string
		var o order
		if err := rows.Scan(&id, &o.store, &o.created, &o.paid, &o.status); err != nil {
			return err
		}
		orders[id] = o
	}
	if err := rows.Err(); err != nil {
		return err
	}
	acked := map[string]*op{}
	for _, o := range ops {
		if o.kind != "checkout" || !o.acked {
			continue
		}
		acked[o.orderID] = o
		got, ok := orders[o.orderID]
		switch {
		case !ok:
			lost(o.start, "checkout %s answered %d with order %s, which is not in orders.orders", o.key, o.status, o.orderID)
		case o.paid && !got.paid:
			lost(o.start, "payment %s of order %s was taken by the sandbox; the order is %s and unpaid", o.reference, o.orderID, got.status)
		case !o.paid && got.paid:
			dup(o.start, "order %s was never paid, yet is paid in the database", o.orderID)
		}
	}
	shopOf := map[string]int{}
	for _, s := range d.shops {
		shopOf[s.id] = s.idx
	}
	for id, o := range orders {
		if _, ok := acked[id]; ok {
			continue
		}
		if k := fmt.Sprintf("checkout/%d", shopOf[o.store]); unresolved[k] > 0 {
			unresolved[k]--
			continue
		}
		dup(o.created, "order %s of shop %d, created %s, answers no acknowledged checkout%s", id, shopOf[o.store],
			o.created.Format("15:04:05.000"), retriedAs(ctx, pool, id, shopOf[o.store], o.created, ops))
	}
	rows, err = pool.Query(ctx, `SELECT order_id, count(*), min(created_at) FROM orders.payments GROUP BY order_id HAVING count(*) > 1`)
	if err != nil {
		return fmt.Errorf("drill: payments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		var at time.Time
		if err := rows.Scan(&id, &n, &at); err != nil {
			return err
		}
		for range n - 1 {
			dup(at, "order %s has %d payments", id, n)
		}
	}
	return rows.Err()
}

// verifyAdjustments matches every acknowledged inventory change with one
// row of catalog.inventory_adjustments: the same variant and delta,
// written while the request was under way.
func (d *drill) verifyAdjustments(ctx context.Context, pool *pgxpool.Pool, ops []*op, unresolved map[string]int,
	lost, dup func(time.Time, string, ...any)) error {
	type adj struct {
		delta   int64
		created time.Time
		used    bool
	}
	byVariant := map[string][]*adj{}
	rows, err := pool.Query(ctx, `SELECT variant_id, delta, created_at FROM catalog.inventory_adjustments ORDER BY created_at`)
	if err != nil {
		return fmt.Errorf("drill: inventory adjustments: %w", err)
	}
	for rows.Next() {
		var v string
		a := &adj{}
		if err := rows.Scan(&v, &a.delta, &a.created); err != nil {
			return err
		}
		byVariant[v] = append(byVariant[v], a)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var adjOps []*op
	for _, o := range ops {
		if o.kind == "adjust" && o.acked {
			adjOps = append(adjOps, o)
		}
	}
	// Each op takes the earliest fitting row, ops that ended first
	// choosing first: the greedy that matches the most intervals to
	// points, so a row is never taken from the op it belongs to.
	sort.Slice(adjOps, func(i, j int) bool { return adjOps[i].end.Before(adjOps[j].end) })
	const skew = time.Second
	for _, o := range adjOps {
		found := false
		for _, a := range byVariant[o.variant] {
			if !a.used && a.delta == o.delta && !a.created.Before(o.start.Add(-skew)) && !a.created.After(o.end.Add(skew)) {
				a.used, found = true, true
				break
			}
		}
		if !found {
			lost(o.start, "inventory change %s (%+d on %s) answered %d and is not in catalog.inventory_adjustments", o.key, o.delta, o.variant, o.status)
		}
	}
	shopOfVariant := map[string]int{}
	for _, s := range d.shops {
		for _, v := range s.variants {
			shopOfVariant[v] = s.idx
		}
	}
	for v, list := range byVariant {
		for _, a := range list {
			if a.used {
				continue
			}
			if k := fmt.Sprintf("adjust/%d", shopOfVariant[v]); unresolved[k] > 0 {
				unresolved[k]--
				continue
			}
			dup(a.created, "inventory change %+d on %s at %s answers no acknowledged request", a.delta, v, a.created.Format(time.TimeOnly))
		}
	}
	return nil
}

func (d *drill) verifyPayouts(ctx context.Context, pool *pgxpool.Pool, ops []*op, unresolved map[string]int,
	lost, dup func(time.Time, string, ...any), res *Result) error {
	shopOfMerchant := map[string]int{}
	for _, s := range d.shops {
		var m string
		if err := pool.QueryRow(ctx, `SELECT merchant_id FROM merchant.stores WHERE id = $1`, s.id).Scan(&m); err != nil {
			return fmt.Errorf("drill: merchant of %s: %w", s.id, err)
		}
		s.merchantID = m
		shopOfMerchant[m] = s.idx
	}
	type payout struct {
		merchant, status string
		created          time.Time
	}
	payouts := map[string]payout{}
	rows, err := pool.Query(ctx, `SELECT id, merchant_id, status, created_at FROM ledger.payouts`)
	if err != nil {
		return fmt.Errorf("drill: payouts: %w", err)
	}
	for rows.Next() {
		var id string
		var p payout
		if err := rows.Scan(&id, &p.merchant, &p.status, &p.created); err != nil {
			return err
		}
		payouts[id] = p
	}
	if err := rows.Err(); err != nil {
		return err
	}
	acked := map[string]bool{}
	notPaid := 0
	for _, o := range ops {
		if o.kind != "payout" || !o.acked {
			continue
		}
		acked[o.payoutID] = true
		p, ok := payouts[o.payoutID]
		switch {
		case !ok:
			lost(o.start, "payout %s answered %d with %s, which is not in ledger.payouts", o.key, o.status, o.payoutID)
		case p.status != "paid":
			notPaid++
			res.Problems = append(res.Problems, fmt.Sprintf("payout %s is %s, not paid", o.payoutID, p.status))
		}
	}
	for id, p := range payouts {
		if acked[id] {
			continue
		}
		if k := fmt.Sprintf("payout/%d", shopOfMerchant[p.merchant]); unresolved[k] > 0 {
			unresolved[k]--
			continue
		}
		dup(p.created, "payout %s of shop %d answers no acknowledged request", id, shopOfMerchant[p.merchant])
	}
	res.Checks = append(res.Checks, Check{Name: "acknowledged payouts paid", OK: notPaid == 0,
		Detail: fmt.Sprintf("%d of %d not paid", notPaid, len(acked))})
	return nil
}

// stock checks every variant's on_hand and reserved against what the
// acknowledged operations imply: the initial stock plus the inventory
// changes, less what paid orders took; reserved is what unpaid orders hold.
func (d *drill) stock(ctx context.Context, pool *pgxpool.Pool, ops []*op) (Check, error) {
	want := map[string][2]int64{}
	for _, s := range d.shops {
		for v, n := range s.initial {
			want[v] = [2]int64{n, 0}
		}
	}
	for _, o := range ops {
		if !o.acked {
			continue
		}
		w := want[o.variant]
		switch {
		case o.kind == "adjust":
			w[0] += o.delta
		case o.kind == "checkout" && o.paid:
			w[0] -= o.qty
		case o.kind == "checkout":
			w[1] += o.qty
		default:
			continue
		}
		want[o.variant] = w
	}
	// A checkout whose order could not be created gives its reservation
	// back, or, when that fails too, leaves it to expire with the
	// checkout TTL: such holds are counted, and named, not failed.
	held := map[string]int64{}
	var orphans int64
	rows, err := pool.Query(ctx, `SELECT l.variant_id, l.quantity FROM catalog.reservations r
		JOIN catalog.reservation_lines l ON l.store_id = r.store_id AND l.reservation_id = r.id
		WHERE r.status = 'active' AND NOT EXISTS (SELECT 1 FROM orders.orders o WHERE o.id = r.id)`)
	if err != nil {
		return Check{}, fmt.Errorf("drill: reservations: %w", err)
	}
	for rows.Next() {
		var v string
		var q int64
		if err := rows.Scan(&v, &q); err != nil {
			return Check{}, err
		}
		held[v] += q
		orphans++
	}
	if err := rows.Err(); err != nil {
		return Check{}, err
	}
	for v, q := range held {
		if w, ok := want[v]; ok {
			w[1] += q
			want[v] = w
		}
	}
	rows, err = pool.Query(ctx, `SELECT id, on_hand, reserved FROM catalog.variants`)
	if err != nil {
		return Check{}, fmt.Errorf("drill: variants: %w", err)
	}
	defer rows.Close()
	var bad []string
	for rows.Next() {
		var id string
		var onHand, reserved int64
		if err := rows.Scan(&id, &onHand, &reserved); err != nil {
			return Check{}, err
		}
		if w, ok := want[id]; ok && (w[0] != onHand || w[1] != reserved) {
			bad = append(bad, fmt.Sprintf("%s on hand %d reserved %d, expected %d and %d", id, onHand, reserved, w[0], w[1]))
		}
	}
	detail := fmt.Sprintf("%d variants; %s", len(want), orNone(bad))
	if orphans > 0 {
		detail += fmt.Sprintf("; %d reservations of checkouts without an order hold stock until they expire", orphans)
	}
	return Check{Name: "stock adds up", OK: len(bad) == 0 && rows.Err() == nil, Detail: detail}, rows.Err()
}

// raceCheck looks for data race reports in the members' logs (members
// built with -race write them there).
func (d *drill) raceCheck() Check {
	files, _ := filepath.Glob(filepath.Join(d.logDir, "*.log"))
	var racy []string
	for _, f := range files {
		b, err := os.ReadFile(f) //nolint:gosec // The drill's own log directory.
		if err == nil && strings.Contains(string(b), "WARNING: DATA RACE") {
			racy = append(racy, f)
		}
	}
	return Check{Name: "no member reported a data race", OK: len(racy) == 0, Detail: orNone(racy)}
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "no problems"
	}
	if len(list) > 5 {
		return strings.Join(list[:5], "; ") + fmt.Sprintf("; and %d more", len(list)-5)
	}
	return strings.Join(list, "; ")
}

// windowOf is the index of the window t falls in.
func (d *drill) windowOf(t time.Time) int {
	for i := len(d.windows) - 1; i > 0; i-- {
		if !t.Before(d.windows[i].start) {
			return i
		}
	}
	return 0
}

// retriedAs names the acknowledged checkouts an orphan order may be the
// first try of: same shop, variant and quantity, retried after a failed
// attempt that began before the order was created.
func retriedAs(ctx context.Context, pool *pgxpool.Pool, orderID string, shop int, created time.Time, ops []*op) string {
	var variant string
	var qty int64
	if err := pool.QueryRow(ctx, `SELECT variant_id, quantity FROM orders.order_items WHERE order_id = $1 ORDER BY position LIMIT 1`,
		orderID).Scan(&variant, &qty); err != nil {
		return ""
	}
	var out []string
	for _, o := range ops {
		if o.kind == "checkout" && o.acked && o.shop == shop && o.variant == variant && o.qty == qty &&
			len(o.failures) > 0 && o.start.Before(created) {
			out = append(out, fmt.Sprintf("checkout %s (acknowledged as %s at %s after %s)", o.key, o.orderID,
				o.end.Format("15:04:05.000"), strings.Join(o.failures, ", ")))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "; a first try of " + strings.Join(out, " or ")
}

// orderHolds checks that every order's reservation is in the state its
// status implies: active while it awaits payment, committed once paid.
func orderHolds(ctx context.Context, pool *pgxpool.Pool) (Check, error) {
	rows, err := pool.Query(ctx, `SELECT o.id, o.status, o.payment_status, coalesce(r.status, 'missing')
		FROM orders.orders o LEFT JOIN catalog.reservations r ON r.store_id = o.store_id AND r.id = o.id
		WHERE (o.status = 'awaiting_payment' AND r.status IS DISTINCT FROM 'active')
		   OR (o.paid_at IS NOT NULL AND r.status IS DISTINCT FROM 'committed')`)
	if err != nil {
		return Check{}, fmt.Errorf("drill: order reservations: %w", err)
	}
	defer rows.Close()
	var bad []string
	for rows.Next() {
		var id, status, payment, res string
		if err := rows.Scan(&id, &status, &payment, &res); err != nil {
			return Check{}, err
		}
		bad = append(bad, fmt.Sprintf("order %s is %s/%s, its reservation %s", id, status, payment, res))
	}
	return Check{Name: "orders hold their stock (awaiting payment: reservation active; paid: committed)",
		OK: len(bad) == 0 && rows.Err() == nil, Detail: orNone(bad)}, rows.Err()
}
