package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/integrations/whatsapp"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/persistence/redis/queue"
)

// WhatsAppSender sends messages through the Meta Cloud API and returns
// their wamids. Implemented by *whatsapp.Client.
type WhatsAppSender interface {
	SendText(ctx context.Context, phoneNumberID, to, body string) (string, error)
	SendInteractive(ctx context.Context, phoneNumberID, to string, m whatsapp.Interactive) (string, error)
	SendTemplate(ctx context.Context, phoneNumberID, to string, t whatsapp.Template) (string, error)
}

var _ WhatsAppSender = (*whatsapp.Client)(nil)

// WhatsAppOutboundConfig configures the outbound WhatsApp worker.
type WhatsAppOutboundConfig struct {
	// ConsumerName is the queue consumer's name, stable across restarts and
	// unique among live processes. Required.
	ConsumerName string
	// RecordTimeout bounds how long the worker keeps trying to record a
	// wamid after a send succeeded, so the message is not sent again.
	// Defaults to 30s.
	RecordTimeout time.Duration
	// Registerer receives the worker's metrics. Nil keeps them unregistered.
	Registerer prometheus.Registerer
	// Logger receives operational logs. The zero value discards them.
	Logger zerolog.Logger
}

// WhatsAppOutbound sends the replies conversations queue: it consumes
// whatsapp-outbound (ordered per conversation, so a thread's replies leave
// in order), asks the conversation actor for the message, sends it through
// the Cloud API and records Meta's wamid on it through the actor, so
// delivery statuses can be matched. Throttling (429) and server errors are
// retried in place by the queue; any other 4xx marks the message failed.
// A message the actor no longer holds as pending (sent or failed) is not
// sent again.
type WhatsAppOutbound struct {
	*consumer // whatsapp-outbound, set by the constructor

	cfg    WhatsAppOutboundConfig
	member *cluster.Member
	sender WhatsAppSender
	log    zerolog.Logger

	sends *prometheus.CounterVec
}

// NewWhatsAppOutbound returns the outbound worker.
func NewWhatsAppOutbound(cfg WhatsAppOutboundConfig, broker *queue.Broker, member *cluster.Member, sender WhatsAppSender) (*WhatsAppOutbound, error) {
	if broker == nil || member == nil || sender == nil {
		return nil, errors.New("worker: whatsapp outbound: a broker, a member and a sender are required")
	}
	if cfg.ConsumerName == "" {
		return nil, errors.New("worker: whatsapp outbound: ConsumerName is required")
	}
	if cfg.RecordTimeout == 0 {
		cfg.RecordTimeout = 30 * time.Second
	}
	w := &WhatsAppOutbound{
		cfg: cfg, member: member, sender: sender,
		log: cfg.Logger.With().Str("component", "whatsapp-outbound").Logger(),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vayva_whatsapp_outbound_total",
			Help: "WhatsApp sends by outcome (sent, refused, retry, exhausted, skipped).",
		}, []string{"outcome"}),
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(w.sends); err != nil {
			return nil, fmt.Errorf("worker: whatsapp outbound: register metrics: %w", err)
		}
	}
	c, err := newConsumer(cfg.ConsumerName, vayva.QueueWhatsAppOutbound, broker, 0, w.Handle)
	if err != nil {
		return nil, err
	}
	w.consumer = c
	return w, nil
}

// Handle processes one whatsapp.send event.
func (w *WhatsAppOutbound) Handle(ctx context.Context, job queue.Job) error {
	var ev vayva.Event
	var send actors.WhatsAppSend
	if err := json.Unmarshal(job.Payload, &ev); err != nil || ev.Type != actors.EventWhatsAppSend || json.Unmarshal(ev.Data, &send) != nil ||
		send.Conversation == "" || send.MessageID == "" {
		w.sends.WithLabelValues("skipped").Inc()
		w.log.Error().Str("job", job.ID).Msg("whatsapp-outbound job is not a whatsapp.send event; dropped")
		return nil
	}
	out, err := cluster.Request[*messages.OutboundMessage](ctx, w.member, actors.ConversationKind, send.Conversation,
		&messages.GetOutbound{MessageId: send.MessageID})
	if err != nil {
		if permanent(err) {
			w.sends.WithLabelValues("skipped").Inc()
			return nil
		}
		return err
	}
	if !out.GetPending() {
		w.sends.WithLabelValues("skipped").Inc()
		return nil // sent or failed already: a redelivery
	}
	wamid, err := w.send(ctx, out)
	if err == nil {
		w.sends.WithLabelValues("sent").Inc()
		return w.record(ctx, send.Conversation, &messages.RecordSent{
			CommandId: "sent:" + send.MessageID, MessageId: send.MessageID, Wamid: wamid, AtUnixMs: time.Now().UnixMilli(),
		}, "sent:"+send.MessageID)
	}
	switch {
	case whatsapp.IsPermanent(err) || vayva.ErrorCode(err) == vayva.EINVALID:
		w.sends.WithLabelValues("refused").Inc()
		w.log.Warn().Err(err).Str("message_id", send.MessageID).Msg("Meta refused a message; marked failed")
	case job.Attempt >= job.MaxAttempts:
		w.sends.WithLabelValues("exhausted").Inc()
		w.log.Warn().Err(err).Str("message_id", send.MessageID).Int("attempts", job.Attempt).Msg("message not sent after its last attempt; marked failed")
	default:
		w.sends.WithLabelValues("retry").Inc()
		return err
	}
	return w.record(ctx, send.Conversation, &messages.RecordSendFailed{
		CommandId: "failed:" + send.MessageID, MessageId: send.MessageID, Error: err.Error(),
	}, "failed:"+send.MessageID)
}

func (w *WhatsAppOutbound) send(ctx context.Context, out *messages.OutboundMessage) (string, error) {
	m, pnid, to := out.GetMessage(), out.GetPhoneNumberId(), out.GetTo()
	switch {
	case m.GetTemplate() != nil:
		return w.sender.SendTemplate(ctx, pnid, to, whatsapp.Template{Name: m.GetTemplate().GetName(), Language: m.GetTemplate().GetLanguage()})
	case len(m.GetButtons()) > 0:
		in := whatsapp.Interactive{Body: m.GetText()}
		for _, b := range m.GetButtons() {
			in.Buttons = append(in.Buttons, whatsapp.Button{ID: b.GetId(), Title: b.GetTitle()})
		}
		return w.sender.SendInteractive(ctx, pnid, to, in)
	default:
		return w.sender.SendText(ctx, pnid, to, m.GetText())
	}
}

// record tells the actor what became of a send, trying for RecordTimeout
// even past the job's context: a message that left must not be sent again
// for want of its wamid.
func (w *WhatsAppOutbound) record(ctx context.Context, identity string, cmd proto.Message, commandID string) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.RecordTimeout)
	defer cancel()
	var err error
	for rctx.Err() == nil {
		_, err = cluster.Request[*messages.Ack](rctx, w.member, actors.ConversationKind, identity, cmd)
		if err == nil || permanent(err) {
			return nil
		}
	}
	w.log.Error().Err(err).Str("identity", identity).Str("command_id", commandID).Msg("send outcome not recorded")
	return err
}
