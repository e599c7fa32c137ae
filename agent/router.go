package agent

import (
	"context"
	"encoding/json"
	"strings"
	"unicode"

	"github.com/vayvahq/vayva/integrations/ai"
)

// Rules are a store's routing rules, read from its settings object under
// "whatsapp_agent":
//
//	{"whatsapp_agent": {"support_keywords": ["refund", "damaged"], "order_status": "ai"}}
//
// An explicit request for a person always goes to support. Order-status
// questions are answered by the AI from the order read model unless
// order_status is "human".
type Rules struct {
	// SupportKeywords send a message that contains one to a person.
	SupportKeywords []string `json:"support_keywords"`
	// OrderStatus is "ai" (default) or "human".
	OrderStatus string `json:"order_status"`
}

// DefaultSupportKeywords apply when a store sets none.
var DefaultSupportKeywords = []string{"refund", "complaint", "damaged", "broken", "wrong item", "scam", "cancel my order"}

// maxRules bounds what is read from a store's settings.
const maxRules = 100

// RulesFromSettings reads the rules from a store's settings object; what
// is missing or malformed takes the defaults.
func RulesFromSettings(settings json.RawMessage) Rules {
	var s struct {
		Agent *Rules `json:"whatsapp_agent"`
	}
	r := Rules{}
	if len(settings) > 0 && json.Unmarshal(settings, &s) == nil && s.Agent != nil {
		r = *s.Agent
	}
	if r.SupportKeywords == nil {
		r.SupportKeywords = DefaultSupportKeywords
	}
	if len(r.SupportKeywords) > maxRules {
		r.SupportKeywords = r.SupportKeywords[:maxRules]
	}
	if r.OrderStatus != "human" {
		r.OrderStatus = "ai"
	}
	return r
}

// Decision is where a message goes and why.
type Decision struct {
	Route  string
	Topic  string
	Reason string
}

// Router decides sales or support for each inbound message.
type Router struct {
	model Model
}

// NewRouter returns a router; model, when not nil, classifies messages no
// rule decides.
func NewRouter(model Model) *Router { return &Router{model: model} }

// PersonReplyID is the id of the "talk to a person" reply button.
const PersonReplyID = "agent:person"

// personPhrases are explicit requests for a person.
var personPhrases = []string{
	"human", "a person", "real person", "an agent", "live agent", "agent please", "speak to someone", "talk to someone",
	"speak to a person", "talk to a person", "speak with someone", "customer service", "customer care",
	"representative", "call me", "manager", "operator", "someone real", "not a bot", "speak to agent", "talk to agent",
}

// Route decides for one message.
func (r *Router) Route(ctx context.Context, rules Rules, m Inbound) Decision {
	if m.ReplyID == PersonReplyID {
		return Decision{Route: RouteSupport, Topic: TopicPerson, Reason: "the customer asked for a person"}
	}
	text := normalize(m.Text)
	if text == "agent" || text == "person" || containsPhrase(text, personPhrases) {
		return Decision{Route: RouteSupport, Topic: TopicPerson, Reason: "the customer asked for a person"}
	}
	for _, k := range rules.SupportKeywords {
		if k = normalize(k); k != "" && containsPhrase(text, []string{k}) {
			return Decision{Route: RouteSupport, Topic: TopicKeyword, Reason: "the message mentions " + k}
		}
	}
	if isOrderStatusQuestion(text) {
		if rules.OrderStatus == "human" {
			return Decision{Route: RouteSupport, Topic: TopicOrderStatus, Reason: "an order-status question"}
		}
		return Decision{Route: RouteSales, Topic: TopicOrderStatus}
	}
	if r.model != nil && text != "" && m.ReplyID == "" {
		if d, ok := r.classify(ctx, m.Text); ok {
			return d
		}
	}
	return Decision{Route: RouteSales, Topic: TopicGeneral}
}

const classifierPrompt = `You route messages that customers send to an online shop on WhatsApp.
Answer with exactly one word:
- "sales" when the message is about products, prices, availability, buying or where an order is;
- "support" when the customer needs a person: a complaint, a refund, a problem, or anything a shop assistant bot cannot handle.`

func (r *Router) classify(ctx context.Context, text string) (Decision, bool) {
	ctx, cancel := context.WithTimeout(ctx, modelTimeout)
	defer cancel()
	zero := 0.0
	out, err := r.model.Complete(ctx, ai.Request{MaxTokens: 5, Temperature: &zero, Messages: []ai.Message{
		{Role: "system", Content: classifierPrompt}, {Role: "user", Content: truncate(text, 2000)},
	}})
	if err != nil {
		return Decision{}, false
	}
	switch strings.Trim(strings.ToLower(strings.TrimSpace(out)), `."'`) {
	case RouteSupport:
		return Decision{Route: RouteSupport, Topic: TopicClassifier, Reason: "the classifier judged it a support request"}, true
	case RouteSales:
		return Decision{Route: RouteSales, Topic: TopicClassifier}, true
	}
	return Decision{}, false
}

// isOrderStatusQuestion recognises "where is my order" and its kin.
func isOrderStatusQuestion(text string) bool {
	if containsPhrase(text, []string{"track my", "tracking", "order status", "delivery status", "my delivery", "my package", "my parcel"}) {
		return true
	}
	if !containsPhrase(text, []string{"order", "orders"}) {
		return false
	}
	return containsPhrase(text, []string{"where", "status", "when", "arrive", "arrived", "deliver", "delivered",
		"shipped", "ship", "my order", "my orders", "update", "received"})
}

// normalize lower-cases text and reduces it to words separated by single
// spaces, so phrases match whatever the punctuation.
func normalize(s string) string {
	var b strings.Builder
	space := true
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' {
			if r == '\'' {
				continue
			}
			b.WriteRune(r)
			space = false
			continue
		}
		if !space {
			b.WriteByte(' ')
			space = true
		}
	}
	return strings.TrimSpace(b.String())
}

// containsPhrase reports whether normalized text holds one of the phrases
// as whole words.
func containsPhrase(text string, phrases []string) bool {
	padded := " " + text + " "
	for _, p := range phrases {
		if p != "" && strings.Contains(padded, " "+p+" ") {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
