package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/phone"
)

// The conversation actor's changes, all committed as the comm role.
func init() {
	registerChange(applyConversationChange)
	registerChange(applyChatMessageChange)
	registerQueuedChange(applyMessageSentChange)
	registerQueuedChange(applyMessageFailedChange)
	registerQueuedChange(applyMessageStatusChange)
}

var _ actors.ConversationRepository = (*Conversations)(nil)

// Conversations reads the WhatsApp threads of the comm domain: the
// conversation actor's state (actors.ConversationRepository) and the
// merchant inbox. Every read of comm tables runs as vayva_comm, the only
// role that may read them; the writes are the change appliers above.
type Conversations struct {
	db *DB
}

// NewConversations returns the conversations repository of db.
func NewConversations(db *DB) *Conversations { return &Conversations{db: db} }

// statusRankSQL ranks a status column as vayva.StatusRank does.
const statusRankSQL = `CASE %s WHEN 'received' THEN 1 WHEN 'queued' THEN 1 WHEN 'sent' THEN 2
	WHEN 'delivered' THEN 3 WHEN 'read' THEN 4 WHEN 'failed' THEN 5 ELSE 0 END`

func rank(col string) string { return fmt.Sprintf(statusRankSQL, col) }

func applyConversationChange(ctx context.Context, tx pgx.Tx, c actors.ConversationChange) error {
	v := c.Conversation
	_, err := tx.Exec(ctx, `
		INSERT INTO comm.conversations (id, store_id, merchant_id, wa_id, phone_number_id, customer_name, mode,
			handoff_reason, last_inbound_at, last_message_seq, last_message_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (id) DO UPDATE SET
			phone_number_id = excluded.phone_number_id, customer_name = excluded.customer_name, mode = excluded.mode,
			handoff_reason = excluded.handoff_reason, last_inbound_at = excluded.last_inbound_at,
			last_message_seq = excluded.last_message_seq, last_message_at = excluded.last_message_at,
			updated_at = excluded.updated_at
		WHERE comm.conversations.store_id = excluded.store_id AND comm.conversations.wa_id = excluded.wa_id`,
		v.ID, v.StoreID, v.MerchantID, v.WAID, v.PhoneNumberID, v.CustomerName, v.Mode, v.HandoffReason,
		nullTime(v.LastInboundAt), v.LastMessageSeq, v.LastMessageAt, v.CreatedAt, v.UpdatedAt)
	return err
}

// messageContent is the content column: what an outbound message carries
// beyond its text.
type messageContent struct {
	Buttons  []actors.ReplyButton `json:"buttons,omitempty"`
	Template *actors.TemplateRef  `json:"template,omitempty"`
}

func applyChatMessageChange(ctx context.Context, tx pgx.Tx, c actors.ChatMessageChange) error {
	m := c.Message
	var media, content []byte
	var err error
	if m.Media != nil {
		if media, err = json.Marshal(m.Media); err != nil {
			return err
		}
	}
	if len(m.Buttons) > 0 || m.Template != nil {
		if content, err = json.Marshal(messageContent{Buttons: m.Buttons, Template: m.Template}); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO comm.whatsapp_messages (id, conversation_id, store_id, seq, direction, origin, author_id, wamid, type,
			original_type, text, reply_id, context_wamid, media, content, status, error, sent_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, NULLIF($8, ''), $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
		m.ID, m.ConversationID, m.StoreID, m.Seq, m.Direction, m.Origin, m.AuthorID, m.WAMID, m.Type,
		m.OriginalType, m.Text, m.ReplyID, m.ContextWAMID, media, content, m.Status, m.Error, nullTime(m.SentAt), m.CreatedAt)
	return err
}

func applyMessageSentChange(b *pgx.Batch, c actors.MessageSentChange) error {
	// A status may have arrived before the wamid was known: take the best
	// one already reported.
	b.Queue(`
		UPDATE comm.whatsapp_messages m SET wamid = $2, sent_at = $3, status_at = $3,
			status = coalesce((SELECT s.status FROM comm.whatsapp_statuses s WHERE s.wamid = $2
				ORDER BY `+rank("s.status")+` DESC LIMIT 1), 'sent'),
			error = coalesce((SELECT s.error_title FROM comm.whatsapp_statuses s WHERE s.wamid = $2 AND s.status = 'failed'), '')
		WHERE m.id = $1`, c.MessageID, c.WAMID, c.At)
	return nil
}

func applyMessageFailedChange(b *pgx.Batch, c actors.MessageFailedChange) error {
	b.Queue(`UPDATE comm.whatsapp_messages SET status = 'failed', error = $2, status_at = $3 WHERE id = $1`,
		c.MessageID, c.Error, c.At)
	return nil
}

func applyMessageStatusChange(b *pgx.Batch, c actors.MessageStatusChange) error {
	b.Queue(`
		INSERT INTO comm.whatsapp_statuses (wamid, status, at, error_code, error_title) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (wamid, status) DO NOTHING`, c.WAMID, c.Status, c.At, c.ErrorCode, c.ErrorTitle)
	errText := ""
	if c.Status == vayva.StatusFailed {
		errText = c.ErrorTitle
		if c.ErrorCode != 0 {
			errText = fmt.Sprintf("%d: %s", c.ErrorCode, c.ErrorTitle)
		}
	}
	b.Queue(`
		UPDATE comm.whatsapp_messages SET status = $3, status_at = $4, error = $5
		WHERE wamid = $1 AND conversation_id = $2 AND `+rank("status")+` < `+rank("$3::text"),
		c.WAMID, c.ConversationID, c.Status, c.At, errText)
	return nil
}

// LoadConversationStore reads what a conversation needs of its store: ids,
// name, currency, WhatsApp number and the owner's email.
func (r *Conversations) LoadConversationStore(ctx context.Context, storeID string) (actors.ConversationStore, error) {
	var s actors.ConversationStore
	err := r.db.pool.QueryRow(ctx, `
		SELECT s.id, s.merchant_id, s.name, s.slug, s.currency, coalesce(s.whatsapp_phone_number_id, ''), coalesce(u.email, '')
		FROM merchant.stores s
		JOIN merchant.merchants m ON m.id = s.merchant_id
		LEFT JOIN auth.users u ON u.id = m.owner_user_id
		WHERE s.id = $1`, storeID).Scan(&s.ID, &s.MerchantID, &s.Name, &s.Slug, &s.Currency, &s.PhoneNumberID, &s.OwnerEmail)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, vayva.Errorf(vayva.ENOTFOUND, "No store %q.", storeID)
	}
	if err != nil {
		return s, fmt.Errorf("postgres: conversation store: %w", interpretError(err))
	}
	return s, nil
}

const conversationColumns = `c.id, c.store_id, c.merchant_id, c.wa_id, c.phone_number_id, c.customer_name, c.mode,
	c.handoff_reason, c.last_inbound_at, c.last_message_seq, c.last_message_at, c.created_at, c.updated_at`

func scanConversation(row pgx.Row, c *actors.Conversation, extra ...any) error {
	var lastInbound *time.Time
	dest := append([]any{&c.ID, &c.StoreID, &c.MerchantID, &c.WAID, &c.PhoneNumberID, &c.CustomerName, &c.Mode,
		&c.HandoffReason, &lastInbound, &c.LastMessageSeq, &c.LastMessageAt, &c.CreatedAt, &c.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return err
	}
	if lastInbound != nil {
		c.LastInboundAt = lastInbound.UTC()
	}
	c.LastMessageAt, c.CreatedAt, c.UpdatedAt = c.LastMessageAt.UTC(), c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return nil
}

const messageColumns = `m.id, m.conversation_id, m.store_id, m.seq, m.direction, m.origin, m.author_id,
	coalesce(m.wamid, ''), m.type, m.original_type, m.text, m.reply_id, m.context_wamid, m.media, m.content,
	m.status, m.error, m.sent_at, m.created_at`

func scanMessage(row pgx.Row) (*actors.ChatMessage, error) {
	m := &actors.ChatMessage{}
	var media, content []byte
	var sentAt *time.Time
	if err := row.Scan(&m.ID, &m.ConversationID, &m.StoreID, &m.Seq, &m.Direction, &m.Origin, &m.AuthorID,
		&m.WAMID, &m.Type, &m.OriginalType, &m.Text, &m.ReplyID, &m.ContextWAMID, &media, &content,
		&m.Status, &m.Error, &sentAt, &m.CreatedAt); err != nil {
		return nil, err
	}
	if len(media) > 0 {
		m.Media = &vayva.Media{}
		if err := json.Unmarshal(media, m.Media); err != nil {
			return nil, fmt.Errorf("message %s: media: %w", m.ID, err)
		}
	}
	if len(content) > 0 {
		var mc messageContent
		if err := json.Unmarshal(content, &mc); err != nil {
			return nil, fmt.Errorf("message %s: content: %w", m.ID, err)
		}
		m.Buttons, m.Template = mc.Buttons, mc.Template
	}
	if sentAt != nil {
		m.SentAt = sentAt.UTC()
	}
	m.CreatedAt = m.CreatedAt.UTC()
	return m, nil
}

func collectMessages(rows pgx.Rows) ([]*actors.ChatMessage, error) {
	defer rows.Close()
	var out []*actors.ChatMessage
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// LoadConversation returns the thread of the store with the customer, its
// latest messages and its unsent outbound messages.
func (r *Conversations) LoadConversation(ctx context.Context, storeID, waID string) (*actors.ConversationState, error) {
	store, err := r.LoadConversationStore(ctx, storeID)
	if err != nil {
		return nil, err
	}
	st := &actors.ConversationState{Store: store}
	err = r.db.InDomain(ctx, vayva.DomainComm, func(ctx context.Context, tx pgx.Tx) error {
		st.Conversation, st.Recent, st.Pending = nil, nil, nil
		var c actors.Conversation
		err := scanConversation(tx.QueryRow(ctx, `SELECT `+conversationColumns+`
			FROM comm.conversations c WHERE c.store_id = $1 AND c.wa_id = $2`, storeID, waID), &c)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		st.Conversation = &c
		rows, err := tx.Query(ctx, `SELECT `+messageColumns+` FROM comm.whatsapp_messages m
			WHERE m.conversation_id = $1 ORDER BY m.seq DESC LIMIT $2`, c.ID, actors.ConversationHistory)
		if err != nil {
			return err
		}
		recent, err := collectMessages(rows)
		if err != nil {
			return err
		}
		for i, j := 0, len(recent)-1; i < j; i, j = i+1, j-1 {
			recent[i], recent[j] = recent[j], recent[i]
		}
		st.Recent = recent
		rows, err = tx.Query(ctx, `SELECT `+messageColumns+` FROM comm.whatsapp_messages m
			WHERE m.conversation_id = $1 AND m.direction = 'outbound' AND m.status = 'queued' ORDER BY m.seq`, c.ID)
		if err != nil {
			return err
		}
		st.Pending, err = collectMessages(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: load conversation: %w", err)
	}
	return st, nil
}

// ConversationByID returns the store's thread with the opaque id, or a
// vayva.ENOTFOUND error (also for another store's thread).
func (r *Conversations) ConversationByID(ctx context.Context, storeID, id string) (actors.Conversation, error) {
	var c actors.Conversation
	if !vayva.HasIDPrefix(id, "conv") {
		return c, vayva.Errorf(vayva.ENOTFOUND, "No conversation %q.", id)
	}
	err := r.db.InDomain(ctx, vayva.DomainComm, func(ctx context.Context, tx pgx.Tx) error {
		return scanConversation(tx.QueryRow(ctx, `SELECT `+conversationColumns+`
			FROM comm.conversations c WHERE c.id = $1 AND c.store_id = $2`, id, storeID), &c)
	})
	if vayva.ErrorCode(err) == vayva.ENOTFOUND || errors.Is(err, pgx.ErrNoRows) {
		return c, vayva.Errorf(vayva.ENOTFOUND, "No conversation %q.", id)
	}
	if err != nil {
		return c, fmt.Errorf("postgres: conversation: %w", err)
	}
	return c, nil
}

// ListConversations returns a page of the store's threads, most recently
// active first, each with its last message; mode "" lists both modes.
// cursor is "" or the next cursor of the previous page.
func (r *Conversations) ListConversations(ctx context.Context, storeID, mode string, limit int, cursor string) ([]actors.ConversationSummary, string, error) {
	afterAt, afterID, err := decodePageCursor(cursor)
	if err == nil && afterID != "" && !vayva.HasIDPrefix(afterID, "conv") {
		err = vayva.BadCursor()
	}
	if err != nil {
		return nil, "", err
	}
	var out []actors.ConversationSummary
	err = r.db.InDomain(ctx, vayva.DomainComm, func(ctx context.Context, tx pgx.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, `SELECT `+conversationColumns+`, `+messageColumns+`
			FROM comm.conversations c
			LEFT JOIN comm.whatsapp_messages m ON m.conversation_id = c.id AND m.seq = c.last_message_seq
			WHERE c.store_id = $1 AND ($2 = '' OR c.mode = $2)
				AND ($3::timestamptz IS NULL OR (c.last_message_at, c.id) < ($3, $4))
			ORDER BY c.last_message_at DESC, c.id DESC LIMIT $5`,
			storeID, mode, afterAt, afterID, limit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s actors.ConversationSummary
			m := &actors.ChatMessage{}
			var mid, mconv, mstore, mdir, morigin, mauthor, mwamid, mtype, motype, mtext, mreply, mctx, mstatus, merr *string
			var mseq *int64
			var media, content []byte
			var msent, mcreated *time.Time
			if err := scanConversation(rows, &s.Conversation, &mid, &mconv, &mstore, &mseq, &mdir, &morigin, &mauthor,
				&mwamid, &mtype, &motype, &mtext, &mreply, &mctx, &media, &content, &mstatus, &merr, &msent, &mcreated); err != nil {
				return err
			}
			if mid != nil {
				m.ID, m.ConversationID, m.StoreID, m.Seq = *mid, *mconv, *mstore, *mseq
				m.Direction, m.Origin, m.AuthorID, m.WAMID, m.Type = *mdir, *morigin, *mauthor, *mwamid, *mtype
				m.OriginalType, m.Text, m.ReplyID, m.ContextWAMID, m.Status, m.Error = *motype, *mtext, *mreply, *mctx, *mstatus, *merr
				m.CreatedAt = mcreated.UTC()
				s.Last = m
			}
			out = append(out, s)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, "", fmt.Errorf("postgres: list conversations: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1].Conversation
		next = encodePageCursor(last.LastMessageAt, last.ID)
	}
	return out, next, nil
}

// ListMessages returns a page of a thread's messages in order (oldest
// first), after the cursor's position.
func (r *Conversations) ListMessages(ctx context.Context, conversationID string, limit int, cursor string) ([]*actors.ChatMessage, string, error) {
	after, id, err := vayva.DecodeCursor(cursor)
	if err == nil && cursor != "" && (id != conversationID || after <= 0) {
		err = vayva.BadCursor()
	}
	if err != nil {
		return nil, "", err
	}
	var out []*actors.ChatMessage
	err = r.db.InDomain(ctx, vayva.DomainComm, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+messageColumns+` FROM comm.whatsapp_messages m
			WHERE m.conversation_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3`, conversationID, after, limit+1)
		if err != nil {
			return err
		}
		out, err = collectMessages(rows)
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("postgres: list messages: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = vayva.EncodeCursor(out[limit-1].Seq, conversationID)
	}
	return out, next, nil
}

// ordersByPhoneSQL reads a store's orders whose phone ends in the nine
// digits $2, newest first; its filter is the expression of
// orders_customer_phone_suffix_idx.
const ordersByPhoneSQL = `
	SELECT o.id, o.number, o.status, o.payment_status, o.fulfillment_status, o.total, o.currency, o.created_at,
		o.customer_phone, coalesce(b.country, 'NG')
	FROM orders.orders o
	LEFT JOIN merchant.business_profiles b ON b.merchant_id = o.merchant_id
	WHERE o.store_id = $1 AND o.customer_phone <> ''
		AND right(regexp_replace(o.customer_phone, '[^0-9]', '', 'g'), 9) = $2
	ORDER BY o.created_at DESC, o.id DESC LIMIT $3`

// maxPhoneOrders bounds the candidate orders compared in Go per lookup.
const maxPhoneOrders = 500

// OrdersByPhone returns the store's latest orders (newest first, at most
// limit) whose customer phone is the customer's WhatsApp id once both are
// normalised to E.164 digits. Phones typed without a country code are read
// in the merchant's country. Candidates are narrowed in SQL by their last
// nine digits, then compared exactly.
func (r *Conversations) OrdersByPhone(ctx context.Context, storeID, waID string, limit int) ([]vayva.CustomerOrder, error) {
	want, ok := phone.WhatsAppID(waID)
	if !ok || len(want) < 9 {
		return nil, nil
	}
	rows, err := r.db.pool.Query(ctx, ordersByPhoneSQL, storeID, want[len(want)-9:], maxPhoneOrders)
	if err != nil {
		return nil, fmt.Errorf("postgres: orders by phone: %w", interpretError(err))
	}
	defer rows.Close()
	var out []vayva.CustomerOrder
	for rows.Next() {
		var o vayva.CustomerOrder
		var raw, country string
		if err := rows.Scan(&o.ID, &o.Number, &o.Status, &o.PaymentStatus, &o.FulfillmentStatus, &o.Total, &o.Currency,
			&o.CreatedAt, &raw, &country); err != nil {
			return nil, fmt.Errorf("postgres: orders by phone: %w", interpretError(err))
		}
		if got, ok := phone.E164Digits(raw, strings.TrimSpace(country)); ok && got == want && len(out) < limit {
			o.CreatedAt = o.CreatedAt.UTC()
			out = append(out, o)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: orders by phone: %w", interpretError(err))
	}
	return out, nil
}
