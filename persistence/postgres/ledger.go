package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
)

// The ledger actor's writes: a whole batch of entries becomes one pipeline
// of multi-row statements. Audit records are appended by whichever domain
// commits them.
func init() {
	registerBatchChange(applyLedgerEntries)
	registerChange(applyAuditRecord)
}

var _ actors.LedgerRepository = (*Ledger)(nil)

// Ledger reads the ledger schema: what ledger actors load, and the
// merchant's wallet, transactions, payouts and audit log for the API. It
// implements actors.LedgerRepository; the writes are the appliers above.
// Every read runs as the ledger role, the only one that may read the
// schema.
type Ledger struct {
	db *DB
}

// NewLedger returns the ledger repository of db.
func NewLedger(db *DB) *Ledger { return &Ledger{db: db} }

// read runs fn in a transaction of the ledger role.
func (l *Ledger) read(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return l.db.InDomain(ctx, vayva.DomainLedger, fn)
}

// applyLedgerEntries writes the entries of one batch: accounts they open
// (with zero balances), transactions, postings, the sum of their balance
// changes per account, holds and payouts; inserts before updates, so an
// entry may resolve a hold placed earlier in the same batch. Everything
// goes in one round trip.
func applyLedgerEntries(ctx context.Context, tx pgx.Tx, entries []actors.LedgerEntry) error {
	var (
		b pgx.Batch

		accIDs, accMerchants, accCodes, accCurrencies, accNormals, accOwners []string

		txIDs, txMerchants, txKinds, txRefTypes, txRefs, txKeys, txHolds, txPhases []string
		txSeqs                                                                     []int64
		txTimes                                                                    []time.Time
		txPrev, txHashes                                                           [][]byte

		deltaOrder []string
		deltas     = map[string]int64{}

		newHolds     []*actors.HoldRecord
		resolved     []*actors.HoldRecord
		newPayouts   []*actors.PayoutRecord
		payoutUpdate = map[string]*actors.PayoutRecord{}
		payoutOrder  []string
	)
	nt, np := len(entries), 0
	for i := range entries {
		np += len(entries[i].Postings)
	}
	txIDs, txMerchants, txKinds, txRefTypes = make([]string, 0, nt), make([]string, 0, nt), make([]string, 0, nt), make([]string, 0, nt)
	txRefs, txKeys, txHolds, txPhases = make([]string, 0, nt), make([]string, 0, nt), make([]string, 0, nt), make([]string, 0, nt)
	txSeqs, txTimes, txPrev, txHashes = make([]int64, 0, nt), make([]time.Time, 0, nt), make([][]byte, 0, nt), make([][]byte, 0, nt)
	rows := make([][]any, 0, np)
	for i := range entries {
		e := &entries[i]
		for _, a := range e.NewAccounts {
			accIDs, accMerchants, accCodes = append(accIDs, a.ID), append(accMerchants, a.MerchantID), append(accCodes, a.Code)
			accCurrencies, accNormals, accOwners = append(accCurrencies, a.Currency), append(accNormals, a.Normal), append(accOwners, a.Owner)
		}
		t := e.Transaction
		txIDs, txMerchants, txSeqs, txKinds = append(txIDs, t.ID), append(txMerchants, t.MerchantID), append(txSeqs, t.Seq), append(txKinds, t.Kind)
		txRefTypes, txRefs, txKeys = append(txRefTypes, t.ReferenceType), append(txRefs, t.Reference), append(txKeys, t.IdempotencyKey)
		txHolds, txPhases, txTimes = append(txHolds, t.HoldID), append(txPhases, t.Phase), append(txTimes, t.CreatedAt)
		txPrev, txHashes = append(txPrev, t.PrevHash), append(txHashes, t.Hash)
		for _, p := range e.Postings {
			rows = append(rows, []any{t.ID, p.AccountID, p.Direction, p.Amount, p.Currency})
		}
		for _, d := range e.Deltas {
			if _, ok := deltas[d.AccountID]; !ok {
				deltaOrder = append(deltaOrder, d.AccountID)
			}
			deltas[d.AccountID] += d.Delta
		}
		if e.NewHold != nil {
			newHolds = append(newHolds, e.NewHold)
		}
		if e.ResolvedHold != nil {
			resolved = append(resolved, e.ResolvedHold)
		}
		if e.NewPayout != nil {
			newPayouts = append(newPayouts, e.NewPayout)
		}
		if p := e.UpdatedPayout; p != nil {
			// The last state of a payout in the batch is the one to write.
			if _, ok := payoutUpdate[p.ID]; !ok {
				payoutOrder = append(payoutOrder, p.ID)
			}
			payoutUpdate[p.ID] = p
		}
	}
	if len(accIDs) > 0 {
		b.Queue(`
			INSERT INTO ledger.accounts (id, merchant_id, code, currency, normal, owner)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])`,
			accIDs, accMerchants, accCodes, accCurrencies, accNormals, accOwners)
		b.Queue(`INSERT INTO ledger.balances (account_id, merchant_id) SELECT * FROM unnest($1::text[], $2::text[])`,
			accIDs, accMerchants)
	}
	b.Queue(`
		INSERT INTO ledger.transactions (id, merchant_id, seq, kind, reference_type, reference, idempotency_key,
			hold_id, phase, created_at, prev_hash, hash)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::text[], $9::text[], $10::timestamptz[], $11::bytea[], $12::bytea[])`,
		txIDs, txMerchants, txSeqs, txKinds, txRefTypes, txRefs, txKeys, txHolds, txPhases, txTimes, txPrev, txHashes)
	if len(deltaOrder) > 0 {
		amounts := make([]int64, len(deltaOrder))
		for i, id := range deltaOrder {
			amounts[i] = deltas[id]
		}
		b.Queue(`
			UPDATE ledger.balances b SET balance = b.balance + d.delta
			FROM unnest($1::text[], $2::bigint[]) AS d (account_id, delta)
			WHERE b.account_id = d.account_id`,
			deltaOrder, amounts,
		).Exec(expectRows(len(deltaOrder), "balances"))
	}
	for _, h := range newHolds {
		b.Queue(`
			INSERT INTO ledger.holds (id, merchant_id, kind, order_id, currency, amount, gross, fee, status, hold_transaction_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10)`,
			h.ID, h.MerchantID, h.Kind, h.OrderID, h.Currency, h.Amount, h.Gross, h.Fee, h.HoldTransactionID, h.CreatedAt)
	}
	for _, h := range resolved {
		b.Queue(`
			UPDATE ledger.holds SET status = $3, resolve_transaction_id = $4, resolved_at = $5
			WHERE id = $1 AND merchant_id = $2 AND status = 'pending'`,
			h.ID, h.MerchantID, h.Status, h.ResolveTransactionID, h.ResolvedAt,
		).Exec(expectOne("pending hold " + h.ID))
	}
	for _, p := range newPayouts {
		b.Queue(`
			INSERT INTO ledger.payouts (id, merchant_id, amount, currency, status, bank_code, account_number, account_name,
				transfer_code, failure_reason, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			p.ID, p.MerchantID, p.Amount, p.Currency, p.Status, p.BankCode, p.AccountNumber, p.AccountName,
			p.TransferCode, p.FailureReason, p.CreatedAt, p.UpdatedAt)
	}
	for _, id := range payoutOrder {
		p := payoutUpdate[id]
		b.Queue(`
			UPDATE ledger.payouts SET status = $3, transfer_code = $4, failure_reason = $5, updated_at = $6
			WHERE id = $1 AND merchant_id = $2`,
			p.ID, p.MerchantID, p.Status, p.TransferCode, p.FailureReason, p.UpdatedAt,
		).Exec(expectOne("payout " + p.ID))
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}
	// The postings go last, by COPY: the bulk of the rows, the fastest way
	// in, after the transactions they reference.
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"ledger", "postings"},
		[]string{"transaction_id", "account_id", "direction", "amount", "currency"}, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("copy postings: %w", err)
	}
	if n != int64(len(rows)) {
		return fmt.Errorf("copy postings: %d of %d rows", n, len(rows))
	}
	return nil
}

// expectRows fails a statement that did not touch exactly n rows.
func expectRows(n int, what string) func(pgconn.CommandTag) error {
	return func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() != int64(n) {
			return fmt.Errorf("%s: %d of %d rows updated", what, tag.RowsAffected(), n)
		}
		return nil
	}
}

func applyAuditRecord(ctx context.Context, tx pgx.Tx, r actors.AuditRecord) error {
	data := []byte(r.Data)
	if len(data) == 0 {
		data = []byte("{}")
	}
	at := r.At
	if at.IsZero() {
		at = time.Now()
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO ledger.audit_log (merchant_id, action, actor_kind, user_id, credential_id, request_id, object_type, object_id, data, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)`,
		r.MerchantID, r.Action, r.ActorKind, r.UserID, r.CredentialID, r.RequestID, r.ObjectType, r.ObjectID, string(data), at)
	return err
}

// LoadLedger reads what a ledger activation keeps: the store currency, the
// last transaction's seq and hash, accounts with stored balances, pending
// holds with their payouts, and the ids of captured orders.
func (l *Ledger) LoadLedger(ctx context.Context, merchantID string) (*actors.LedgerSnapshot, error) {
	snap := &actors.LedgerSnapshot{Balances: map[string]int64{}, Payouts: map[string]actors.PayoutRecord{}}
	err := l.read(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM merchant.merchants WHERE id = $1)`, merchantID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return vayva.Errorf(vayva.ENOTFOUND, "No merchant %q.", merchantID)
		}
		err := tx.QueryRow(ctx, `SELECT currency FROM merchant.stores WHERE merchant_id = $1 ORDER BY created_at, id LIMIT 1`,
			merchantID).Scan(&snap.Currency)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		err = tx.QueryRow(ctx, `SELECT seq, hash FROM ledger.transactions WHERE merchant_id = $1 ORDER BY seq DESC LIMIT 1`,
			merchantID).Scan(&snap.Seq, &snap.LastHash)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT a.id, a.code, a.currency, a.normal, a.owner, coalesce(b.balance, 0)
			FROM ledger.accounts a LEFT JOIN ledger.balances b ON b.account_id = a.id
			WHERE a.merchant_id = $1`, merchantID)
		if err != nil {
			return err
		}
		var a actors.LedgerAccount
		var bal int64
		if _, err := pgx.ForEachRow(rows, []any{&a.ID, &a.Code, &a.Currency, &a.Normal, &a.Owner, &bal}, func() error {
			a.MerchantID = merchantID
			snap.Accounts = append(snap.Accounts, a)
			snap.Balances[a.ID] = bal
			return nil
		}); err != nil {
			return err
		}
		holds, err := queryHolds(ctx, tx, `WHERE merchant_id = $1 AND status = 'pending'`, merchantID)
		if err != nil {
			return err
		}
		snap.PendingHolds = holds
		payouts, err := queryPayouts(ctx, tx, `WHERE merchant_id = $1 AND id IN (
			SELECT id FROM ledger.holds WHERE merchant_id = $1 AND kind = 'payout' AND status = 'pending')`, merchantID)
		if err != nil {
			return err
		}
		for _, p := range payouts {
			snap.Payouts[p.ID] = p
		}
		rows, err = tx.Query(ctx, `SELECT reference FROM ledger.transactions WHERE merchant_id = $1 AND kind = 'capture'`, merchantID)
		if err != nil {
			return err
		}
		var ref string
		_, err = pgx.ForEachRow(rows, []any{&ref}, func() error {
			snap.CapturedOrders = append(snap.CapturedOrders, ref)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: load ledger %s: %w", merchantID, err)
	}
	return snap, nil
}

const holdColumns = `id, merchant_id, kind, order_id, currency, amount, gross, fee, status, hold_transaction_id,
	coalesce(resolve_transaction_id, ''), created_at, coalesce(resolved_at, 'epoch'::timestamptz)`

func queryHolds(ctx context.Context, tx pgx.Tx, where string, args ...any) ([]actors.HoldRecord, error) {
	rows, err := tx.Query(ctx, `SELECT `+holdColumns+` FROM ledger.holds `+where, args...)
	if err != nil {
		return nil, err
	}
	var out []actors.HoldRecord
	var h actors.HoldRecord
	_, err = pgx.ForEachRow(rows, []any{&h.ID, &h.MerchantID, &h.Kind, &h.OrderID, &h.Currency, &h.Amount, &h.Gross, &h.Fee,
		&h.Status, &h.HoldTransactionID, &h.ResolveTransactionID, &h.CreatedAt, &h.ResolvedAt}, func() error {
		if h.ResolveTransactionID == "" {
			h.ResolvedAt = time.Time{}
		}
		out = append(out, h)
		return nil
	})
	return out, err
}

const payoutColumns = `id, merchant_id, amount, currency, status, bank_code, account_number, account_name, transfer_code,
	failure_reason, created_at, updated_at`

func scanPayout(row interface{ Scan(...any) error }, p *actors.PayoutRecord) error {
	return row.Scan(&p.ID, &p.MerchantID, &p.Amount, &p.Currency, &p.Status, &p.BankCode, &p.AccountNumber, &p.AccountName,
		&p.TransferCode, &p.FailureReason, &p.CreatedAt, &p.UpdatedAt)
}

func queryPayouts(ctx context.Context, tx pgx.Tx, where string, args ...any) ([]actors.PayoutRecord, error) {
	rows, err := tx.Query(ctx, `SELECT `+payoutColumns+` FROM ledger.payouts `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []actors.PayoutRecord
	for rows.Next() {
		var p actors.PayoutRecord
		if err := scanPayout(rows, &p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// FindTransaction returns the id of the merchant's transaction with the
// idempotency key, or "".
func (l *Ledger) FindTransaction(ctx context.Context, merchantID, key string) (string, error) {
	var id string
	err := l.read(ctx, func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT id FROM ledger.transactions WHERE idempotency_key = $1 AND merchant_id = $2`, key, merchantID).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("postgres: find ledger transaction: %w", err)
	}
	return id, nil
}

// LoadOrderCapture returns an order's capture with what its refund holds
// that were not voided took, nil when the order has no capture.
func (l *Ledger) LoadOrderCapture(ctx context.Context, merchantID, orderID string) (*actors.OrderCapture, error) {
	var oc *actors.OrderCapture
	err := l.read(ctx, func(ctx context.Context, tx pgx.Tx) error {
		c := actors.OrderCapture{OrderID: orderID}
		err := tx.QueryRow(ctx, `
			SELECT t.id, p.currency,
				coalesce(sum(p.amount) FILTER (WHERE a.code = 'paystack_clearing'), 0),
				coalesce(sum(p.amount) FILTER (WHERE a.code = 'fee_revenue'), 0)
			FROM ledger.transactions t
			JOIN ledger.postings p ON p.transaction_id = t.id
			JOIN ledger.accounts a ON a.id = p.account_id
			WHERE t.idempotency_key = $1 AND t.merchant_id = $2
			GROUP BY t.id, p.currency`, "capture:"+orderID, merchantID).Scan(&c.TransactionID, &c.Currency, &c.Amount, &c.Fee)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `
			SELECT coalesce(sum(gross), 0), coalesce(sum(fee), 0) FROM ledger.holds
			WHERE order_id = $1 AND merchant_id = $2 AND kind = 'refund' AND status <> 'voided'`,
			orderID, merchantID).Scan(&c.RefundedGross, &c.RefundedFee); err != nil {
			return err
		}
		oc = &c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: load order capture: %w", err)
	}
	return oc, nil
}

// LoadHold returns a hold of the merchant, nil when there is none.
func (l *Ledger) LoadHold(ctx context.Context, merchantID, holdID string) (*actors.HoldRecord, error) {
	var out *actors.HoldRecord
	err := l.read(ctx, func(ctx context.Context, tx pgx.Tx) error {
		hs, err := queryHolds(ctx, tx, `WHERE id = $1 AND merchant_id = $2`, holdID, merchantID)
		if len(hs) == 1 {
			out = &hs[0]
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: load hold: %w", err)
	}
	return out, nil
}

// LoadPayout returns a payout of the merchant, nil when there is none.
func (l *Ledger) LoadPayout(ctx context.Context, merchantID, payoutID string) (*actors.PayoutRecord, error) {
	p, err := l.GetPayout(ctx, merchantID, payoutID)
	if vayva.ErrorCode(err) == vayva.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// GetPayout returns a payout of the merchant; another merchant's is
// ENOTFOUND.
func (l *Ledger) GetPayout(ctx context.Context, merchantID, payoutID string) (actors.PayoutRecord, error) {
	var p actors.PayoutRecord
	err := l.read(ctx, func(ctx context.Context, tx pgx.Tx) error {
		return scanPayout(tx.QueryRow(ctx, `SELECT `+payoutColumns+` FROM ledger.payouts WHERE id = $1 AND merchant_id = $2`,
			payoutID, merchantID), &p)
	})
	if vayva.ErrorCode(err) == vayva.ENOTFOUND {
		return p, vayva.Errorf(vayva.ENOTFOUND, "No payout %q.", payoutID)
	}
	if err != nil {
		return p, fmt.Errorf("postgres: get payout: %w", err)
	}
	return p, nil
}

// PayoutByID returns a payout whoever's it is, for the payout worker and
// Paystack's transfer events, which know only the payout id.
func (l *Ledger) PayoutByID(ctx context.Context, payoutID string) (actors.PayoutRecord, error) {
	var p actors.PayoutRecord
	err := l.read(ctx, func(ctx context.Context, tx pgx.Tx) error {
		return scanPayout(tx.QueryRow(ctx, `SELECT `+payoutColumns+` FROM ledger.payouts WHERE id = $1`, payoutID), &p)
	})
	if vayva.ErrorCode(err) == vayva.ENOTFOUND {
		return p, vayva.Errorf(vayva.ENOTFOUND, "No payout %q.", payoutID)
	}
	if err != nil {
		return p, fmt.Errorf("postgres: payout: %w", err)
	}
	return p, nil
}
