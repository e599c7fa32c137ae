package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
)

// Wallet returns the merchant's balances in currency, or in its store's
// currency when currency is empty. Balances are read as committed.
func (l *Ledger) Wallet(ctx context.Context, merchantID, currency string) (vayva.Wallet, error) {
	w := vayva.Wallet{Currency: currency}
	err := l.read(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if w.Currency == "" {
			err := tx.QueryRow(ctx, `SELECT currency FROM merchant.stores WHERE merchant_id = $1 ORDER BY created_at, id LIMIT 1`,
				merchantID).Scan(&w.Currency)
			if err != nil {
				return err
			}
		}
		return tx.QueryRow(ctx, `
			SELECT coalesce(sum(b.balance) FILTER (WHERE a.code = $3), 0),
			       coalesce(sum(b.balance) FILTER (WHERE a.code = $4), 0),
			       coalesce(sum(b.balance) FILTER (WHERE a.code = $5), 0)
			FROM ledger.accounts a JOIN ledger.balances b ON b.account_id = a.id
			WHERE a.merchant_id = $1 AND a.currency = $2`,
			merchantID, w.Currency, actors.AccountAvailable, actors.AccountPayoutsInTransit, actors.AccountOnHold,
		).Scan(&w.Available, &w.Pending, &w.OnHold)
	})
	if err != nil {
		return w, fmt.Errorf("postgres: wallet: %w", err)
	}
	return w, nil
}

// ListTransactions returns up to limit of the merchant's transactions,
// newest first, with their postings, and the cursor of the next page ("" on
// the last).
func (l *Ledger) ListTransactions(ctx context.Context, merchantID string, limit int, cursor string) ([]vayva.LedgerTxn, string, error) {
	before := int64(1) << 62
	if cursor != "" {
		seq, id, err := vayva.DecodeCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		if seq < 1 || !vayva.HasIDPrefix(id, "txn") {
			return nil, "", vayva.BadCursor()
		}
		before = seq
	}
	var out []vayva.LedgerTxn
	err := l.read(ctx, func(ctx context.Context, tx pgx.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, `
			SELECT t.id, t.seq, t.kind, t.reference_type, t.reference, t.created_at, a.code, a.owner, p.direction, p.amount, p.currency
			FROM (SELECT * FROM ledger.transactions WHERE merchant_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3) t
			JOIN ledger.postings p ON p.transaction_id = t.id
			JOIN ledger.accounts a ON a.id = p.account_id
			ORDER BY t.seq DESC, p.id`, merchantID, before, limit+1)
		if err != nil {
			return err
		}
		var (
			t                          vayva.LedgerTxn
			code, owner, dir, currency string
			amount                     int64
		)
		_, err = pgx.ForEachRow(rows, []any{&t.ID, &t.Seq, &t.Kind, &t.ReferenceType, &t.Reference, &t.CreatedAt,
			&code, &owner, &dir, &amount, &currency}, func() error {
			if n := len(out); n == 0 || out[n-1].ID != t.ID {
				out = append(out, vayva.LedgerTxn{ID: t.ID, Seq: t.Seq, Kind: t.Kind, ReferenceType: t.ReferenceType,
					Reference: t.Reference, CreatedAt: t.CreatedAt})
			}
			account := code
			if owner == "platform" {
				account = "platform:" + code
			}
			last := &out[len(out)-1]
			last.Postings = append(last.Postings, vayva.LedgerLeg{Account: account, Direction: dir, Amount: amount, Currency: currency})
			return nil
		})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("postgres: list ledger transactions: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = vayva.EncodeCursor(out[limit-1].Seq, out[limit-1].ID)
	}
	return out, next, nil
}

// ListPayouts returns up to limit of the merchant's payouts, newest first,
// only those with status when it is set, and the next page's cursor.
func (l *Ledger) ListPayouts(ctx context.Context, merchantID, status string, limit int, cursor string) ([]actors.PayoutRecord, string, error) {
	where := `WHERE merchant_id = $1 AND ($2 = '' OR status = $2)`
	args := []any{merchantID, status, limit + 1}
	if cursor != "" {
		at, id, err := vayva.DecodeTimeCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		if !vayva.HasIDPrefix(id, "po") {
			return nil, "", vayva.BadCursor()
		}
		where += ` AND (created_at, id) < ($4, $5)`
		args = append(args, at, id)
	}
	var out []actors.PayoutRecord
	err := l.read(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		out, err = queryPayouts(ctx, tx, where+` ORDER BY created_at DESC, id DESC LIMIT $3`, args...)
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("postgres: list payouts: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = vayva.EncodeTimeCursor(out[limit-1].CreatedAt, out[limit-1].ID)
	}
	return out, next, nil
}

// ListAudit returns up to limit of the merchant's audit log, newest first,
// and the next page's cursor.
func (l *Ledger) ListAudit(ctx context.Context, merchantID string, limit int, cursor string) ([]vayva.AuditEntry, string, error) {
	before := int64(1) << 62
	if cursor != "" {
		n, id, err := vayva.DecodeCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		if n < 1 || id != strconv.FormatInt(n, 10) {
			return nil, "", vayva.BadCursor()
		}
		before = n
	}
	var out []vayva.AuditEntry
	err := l.read(ctx, func(ctx context.Context, tx pgx.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, `
			SELECT id, actor_kind, user_id, credential_id, request_id, action, object_type, object_id, data, created_at
			FROM ledger.audit_log WHERE merchant_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, merchantID, before, limit+1)
		if err != nil {
			return err
		}
		var e vayva.AuditEntry
		var data []byte
		_, err = pgx.ForEachRow(rows, []any{&e.ID, &e.ActorKind, &e.UserID, &e.CredentialID, &e.RequestID, &e.Action,
			&e.ObjectType, &e.ObjectID, &data, &e.CreatedAt}, func() error {
			e.Data = append([]byte(nil), data...)
			out = append(out, e)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("postgres: audit log: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = vayva.EncodeCursor(out[limit-1].ID, strconv.FormatInt(out[limit-1].ID, 10))
	}
	return out, next, nil
}
