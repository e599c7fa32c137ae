package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/agent"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/redis/queue"
)

// WhatsAppRouter finds the store of a WhatsApp business number.
// Implemented by *postgres.WhatsAppRoutes.
type WhatsAppRouter interface {
	StoreByPhoneNumberID(ctx context.Context, phoneNumberID string) (vayva.WhatsAppRoute, error)
	Forget(phoneNumberID string)
}

// WhatsAppInboundConfig configures the inbound WhatsApp worker.
type WhatsAppInboundConfig struct {
	// ConsumerName is the queue consumer's name, stable across restarts and
	// unique among live processes. Required.
	ConsumerName string
	// Registerer receives the worker's metrics. Nil keeps them unregistered.
	Registerer prometheus.Registerer
	// Logger receives operational logs. The zero value discards them.
	Logger zerolog.Logger
}

// WhatsAppInbound is the conversation pipeline's ingestor: it consumes
// whatsapp-inbound (ordered per conversation), normalises each job into a
// vayva.Message or vayva.MessageStatus, finds the store by business
// number, hands the message to the conversation actor and, while the AI
// answers the thread, routes it (sales or support) and queues the AI's
// reply or the handoff through the actor.
//
// Every step is idempotent under the message's wamid (the actor's command
// ids derive from it), so a job retried after any failure is applied
// once. Jobs that can never succeed (unknown number, unreadable payload,
// a refusal of the actor) are logged, counted and dropped.
type WhatsAppInbound struct {
	*consumer // whatsapp-inbound, set by the constructor

	cfg       WhatsAppInboundConfig
	member    *cluster.Member
	routes    WhatsAppRouter
	router    *agent.Router
	responder agent.Responder
	log       zerolog.Logger

	jobs    *prometheus.CounterVec
	replies *prometheus.CounterVec
}

// NewWhatsAppInbound returns the inbound worker.
func NewWhatsAppInbound(cfg WhatsAppInboundConfig, broker *queue.Broker, member *cluster.Member, routes WhatsAppRouter,
	router *agent.Router, responder agent.Responder) (*WhatsAppInbound, error) {
	if broker == nil || member == nil || routes == nil || router == nil || responder == nil {
		return nil, errors.New("worker: whatsapp inbound: a broker, a member, routes, a router and a responder are required")
	}
	if cfg.ConsumerName == "" {
		return nil, errors.New("worker: whatsapp inbound: ConsumerName is required")
	}
	w := &WhatsAppInbound{
		cfg: cfg, member: member, routes: routes, router: router, responder: responder,
		log: cfg.Logger.With().Str("component", "whatsapp-inbound").Logger(),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vayva_whatsapp_inbound_total",
			Help: "WhatsApp inbound jobs by kind (message, status) and outcome (stored, unknown_number, dropped).",
		}, []string{"kind", "outcome"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vayva_whatsapp_agent_total",
			Help: "What the agent did with inbound messages: reply_builtin, reply_model, handoff, silent (human mode), skipped.",
		}, []string{"action"}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{w.jobs, w.replies} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("worker: whatsapp inbound: register metrics: %w", err)
			}
		}
	}
	c, err := newConsumer(cfg.ConsumerName, vayva.QueueWhatsAppInbound, broker, 0, w.Handle)
	if err != nil {
		return nil, err
	}
	w.consumer = c
	return w, nil
}

// Handle processes one whatsapp-inbound job. An error makes the queue
// retry it in place, so nothing of the conversation overtakes it.
func (w *WhatsAppInbound) Handle(ctx context.Context, job queue.Job) error {
	switch job.Type {
	case vayva.JobWhatsAppMessage:
		m, err := NormalizeMessage(job.Payload)
		if err != nil {
			w.drop("message", job, err)
			return nil
		}
		return w.message(ctx, m)
	case vayva.JobWhatsAppStatus:
		s, err := NormalizeStatus(job.Payload)
		if err != nil {
			w.drop("status", job, err)
			return nil
		}
		return w.status(ctx, s)
	default:
		w.drop("unknown", job, fmt.Errorf("unknown job type %.40q", job.Type))
		return nil
	}
}

func (w *WhatsAppInbound) drop(kind string, job queue.Job, err error) {
	w.jobs.WithLabelValues(kind, "dropped").Inc()
	w.log.Warn().Err(err).Str("job", job.ID).Str("kind", kind).Msg("whatsapp job dropped")
}

// permanent reports whether an actor's answer is a refusal that a retry
// cannot change.
func permanent(err error) bool {
	switch vayva.ErrorCode(err) {
	case vayva.EINVALID, vayva.EBADREQUEST, vayva.ECONFLICT, vayva.ENOTFOUND, vayva.EFORBIDDEN:
		return true
	}
	return false
}

// receive stores m in its store's conversation, finding the store again
// once if the actor says the number no longer belongs to it.
func (w *WhatsAppInbound) receive(ctx context.Context, m vayva.Message) (vayva.WhatsAppRoute, *messages.Received, error) {
	for attempt := 0; ; attempt++ {
		route, err := w.routes.StoreByPhoneNumberID(ctx, m.PhoneNumberID)
		if err != nil {
			return route, nil, err
		}
		cmd := &messages.ReceiveMessage{
			CommandId: "in:" + m.WAMID, PhoneNumberId: m.PhoneNumberID, Wamid: m.WAMID, CustomerName: m.CustomerName,
			Type: m.Type, Text: m.Text, ReplyId: m.ReplyID, ContextWamid: m.ContextWAMID, OriginalType: m.OriginalType,
			SentAtUnixMs: unixMs(m),
		}
		if m.Media != nil {
			cmd.Media = &messages.MediaRef{Id: m.Media.ID, MimeType: m.Media.MIMEType, Sha256: m.Media.SHA256, Filename: m.Media.Filename}
		}
		rec, err := cluster.Request[*messages.Received](ctx, w.member, actors.ConversationKind, vayva.ConversationIdentity(route.StoreID, m.From), cmd)
		if vayva.ErrorCode(err) == vayva.ENOTFOUND && attempt == 0 {
			w.routes.Forget(m.PhoneNumberID)
			continue
		}
		return route, rec, err
	}
}

func unixMs(m vayva.Message) int64 {
	if m.SentAt.IsZero() {
		return 0
	}
	return m.SentAt.UnixMilli()
}

func (w *WhatsAppInbound) message(ctx context.Context, m vayva.Message) error {
	route, rec, err := w.receive(ctx, m)
	switch {
	case vayva.ErrorCode(err) == vayva.ENOTFOUND:
		w.jobs.WithLabelValues("message", "unknown_number").Inc()
		w.log.Warn().Str("phone_number_id", m.PhoneNumberID).Str("wamid", m.WAMID).Msg("whatsapp message for a number no store uses; dropped")
		return nil
	case permanent(err):
		w.jobs.WithLabelValues("message", "dropped").Inc()
		w.log.Warn().Err(err).Str("wamid", m.WAMID).Msg("whatsapp message refused by its conversation; dropped")
		return nil
	case err != nil:
		return err
	}
	w.jobs.WithLabelValues("message", "stored").Inc()
	conv := rec.GetConversation()
	if conv.GetMode() != vayva.ModeAI {
		w.replies.WithLabelValues("silent").Inc()
		return nil
	}
	identity := vayva.ConversationIdentity(route.StoreID, m.From)
	in := agent.Inbound{Type: m.Type, Text: m.Text, ReplyID: m.ReplyID}
	d := w.router.Route(ctx, agent.RulesFromSettings(route.Settings), in)
	if d.Route == agent.RouteSupport {
		// Tell the customer first, then go quiet: once the thread is in
		// human mode the AI says nothing more.
		if err := w.reply(ctx, identity, "handoff-ack:"+m.WAMID, agent.Reply{
			Text: "Thanks! I have passed your message to the team; a person will reply here soon.",
		}); err != nil {
			return err
		}
		_, err := cluster.Request[*messages.Conversation](ctx, w.member, actors.ConversationKind, identity, &messages.HandOff{
			CommandId: "handoff:" + m.WAMID, Reason: d.Reason, TriggerText: m.Text,
		})
		if err != nil && !permanent(err) {
			return err
		}
		w.replies.WithLabelValues("handoff").Inc()
		return nil
	}
	var history []agent.Line
	h := rec.GetHistory()
	for i, l := range h {
		if i == len(h)-1 {
			break // the message being answered
		}
		history = append(history, agent.Line{FromCustomer: l.GetDirection() == vayva.DirectionInbound, Text: l.GetText()})
	}
	r, err := w.responder.Respond(ctx, agent.Turn{
		StoreID: route.StoreID, WAID: m.From, CustomerName: conv.GetCustomerName(), Message: in, History: history, Topic: d.Topic,
	})
	if err != nil {
		return fmt.Errorf("worker: whatsapp inbound: respond: %w", err)
	}
	if err := w.reply(ctx, identity, "reply:"+m.WAMID, r); err != nil {
		return err
	}
	w.replies.WithLabelValues("reply_" + r.Source).Inc()
	return nil
}

// reply queues an AI reply through the conversation actor.
func (w *WhatsAppInbound) reply(ctx context.Context, identity, commandID string, r agent.Reply) error {
	cmd := &messages.SendReply{CommandId: commandID, Origin: vayva.OriginAI, Text: r.Text}
	for _, b := range r.Buttons {
		cmd.Buttons = append(cmd.Buttons, &messages.ReplyButton{Id: b.ID, Title: b.Title})
	}
	sent, err := cluster.Request[*messages.Sent](ctx, w.member, actors.ConversationKind, identity, cmd)
	switch {
	case permanent(err):
		w.log.Warn().Err(err).Str("identity", identity).Msg("AI reply refused by its conversation; not sent")
		return nil
	case err != nil:
		return err
	case sent.GetSkipped():
		w.replies.WithLabelValues("skipped").Inc()
	}
	return nil
}

func (w *WhatsAppInbound) status(ctx context.Context, s vayva.MessageStatus) error {
	route, err := w.routes.StoreByPhoneNumberID(ctx, s.PhoneNumberID)
	if vayva.ErrorCode(err) == vayva.ENOTFOUND {
		w.jobs.WithLabelValues("status", "unknown_number").Inc()
		w.log.Warn().Str("phone_number_id", s.PhoneNumberID).Str("wamid", s.WAMID).Msg("whatsapp status for a number no store uses; dropped")
		return nil
	}
	if err != nil {
		return err
	}
	cmd := &messages.ApplyStatus{
		CommandId: "st:" + s.WAMID + ":" + s.Status, Wamid: s.WAMID, Status: s.Status,
		ErrorCode: int32(s.ErrorCode), ErrorTitle: s.ErrorTitle,
	}
	if !s.At.IsZero() {
		cmd.AtUnixMs = s.At.UnixMilli()
	}
	_, err = cluster.Request[*messages.Ack](ctx, w.member, actors.ConversationKind, vayva.ConversationIdentity(route.StoreID, s.RecipientID), cmd)
	switch {
	case permanent(err):
		w.jobs.WithLabelValues("status", "dropped").Inc()
		w.log.Warn().Err(err).Str("wamid", s.WAMID).Msg("whatsapp status refused by its conversation; dropped")
		return nil
	case err != nil:
		return err
	}
	w.jobs.WithLabelValues("status", "stored").Inc()
	return nil
}
