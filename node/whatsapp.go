package node

import (
	"context"
	"fmt"

	"github.com/vayvahq/vayva/agent"
	"github.com/vayvahq/vayva/integrations/ai"
	"github.com/vayvahq/vayva/integrations/whatsapp"
	"github.com/vayvahq/vayva/persistence/postgres"
	"github.com/vayvahq/vayva/worker"
)

// startWhatsApp starts the conversation pipeline: the inbound worker on
// nodes with the ingestors role and the outbound worker on nodes with the
// workers role. With VAYVA_AI_BASE_URL and VAYVA_AI_MODEL set, the agent
// classifies and answers through that chat-completions model, checked
// against the catalog; otherwise the built-in responder answers.
func (n *Node) startWhatsApp(ctx context.Context) error {
	cfg := n.cfg
	base := n.consumerBase()
	if cfg.Roles["ingestors"] {
		var model agent.Model
		if cfg.AIBaseURL != "" && cfg.AIModel != "" {
			c, err := ai.New(ai.Config{BaseURL: cfg.AIBaseURL, APIKey: cfg.AIAPIKey, Model: cfg.AIModel, RetryScale: cfg.RetryScale})
			if err != nil {
				return fmt.Errorf("VAYVA_AI_BASE_URL: %w", err)
			}
			model = c
		}
		conversations := postgres.NewConversations(n.DB)
		builtin := agent.NewBuiltin(storeCatalog{member: n.Member}, conversations, cfg.PublicURL)
		var responder agent.Responder = builtin
		if model != nil {
			responder = agent.NewModelResponder(model, builtin, n.log)
		}
		var err error
		n.WhatsAppInbound, err = worker.NewWhatsAppInbound(worker.WhatsAppInboundConfig{
			ConsumerName: base + "-whatsapp-in", Registerer: n.Registry, Logger: n.log,
		}, n.Queues, n.Member, postgres.NewWhatsAppRoutes(n.DB, postgres.WhatsAppRoutesConfig{}), agent.NewRouter(model), responder)
		if err != nil {
			return err
		}
		if err := n.WhatsAppInbound.Start(ctx); err != nil {
			return err
		}
		n.onStop("whatsapp inbound", n.WhatsAppInbound.Stop, nil)
	}
	if cfg.Roles["workers"] {
		wcfg := whatsapp.Config{AccessToken: cfg.WhatsAppAccessToken, BaseURL: cfg.WhatsAppBaseURL, RetryScale: cfg.RetryScale}
		if n.Sandbox != nil {
			wcfg.AccessToken = n.Sandbox.Config().WhatsAppAccessToken
			if wcfg.BaseURL == "" {
				wcfg.BaseURL = n.Sandbox.BaseURLs().WhatsApp
			}
		}
		sender, err := whatsapp.New(wcfg)
		if err != nil {
			return fmt.Errorf("VAYVA_WHATSAPP_ACCESS_TOKEN: %w", err)
		}
		n.WhatsAppOutbound, err = worker.NewWhatsAppOutbound(worker.WhatsAppOutboundConfig{
			ConsumerName: base + "-whatsapp-out", Registerer: n.Registry, Logger: n.log,
		}, n.Queues, n.Member, sender)
		if err != nil {
			return err
		}
		if err := n.WhatsAppOutbound.Start(ctx); err != nil {
			return err
		}
		n.onStop("whatsapp outbound", n.WhatsAppOutbound.Stop, nil)
	}
	return nil
}
