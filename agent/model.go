package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/ai"
)

// ModelResponder answers through a chat model with the store's catalog
// (and, for order questions, the customer's orders) as context. The model
// answers in JSON naming the products it mentions and the items to check
// out; the answer is sent only if it passes CheckAnswer (every product id
// in the catalog, every price one of the catalog's, no links, items in
// stock). Otherwise, and whenever the model fails, the built-in answer is
// sent instead.
type ModelResponder struct {
	model    Model
	fallback *Builtin
	log      zerolog.Logger
	// Rejected counts answers refused by the check; nil counts nothing.
	Rejected func(reason string)
}

// NewModelResponder returns a responder on model with fallback as the
// built-in answer.
func NewModelResponder(model Model, fallback *Builtin, log zerolog.Logger) *ModelResponder {
	return &ModelResponder{model: model, fallback: fallback, log: log}
}

var _ Responder = (*ModelResponder)(nil)

// modelAnswer is the JSON the model is asked for.
type modelAnswer struct {
	Reply      string   `json:"reply"`
	ProductIDs []string `json:"product_ids"`
	Checkout   []struct {
		VariantID string `json:"variant_id"`
		Quantity  int64  `json:"quantity"`
	} `json:"checkout"`
}

// maxCatalogContext bounds the products passed to the model.
const maxCatalogContext = 200

// Respond asks the model, checks its answer and falls back to the
// built-in responder when it cannot be used.
func (r *ModelResponder) Respond(ctx context.Context, t Turn) (Reply, error) {
	if t.Message.ReplyID != "" && strings.HasPrefix(t.Message.ReplyID, BuyReplyPrefix) {
		// A tap on a Buy button is answered exactly, not drafted.
		return r.fallback.Respond(ctx, t)
	}
	shop, err := r.fallback.catalog.Storefront(ctx, t.StoreID)
	if err != nil {
		return Reply{}, err
	}
	var orders []vayva.CustomerOrder
	if t.Topic == TopicOrderStatus {
		if orders, err = r.fallback.orders.OrdersByPhone(ctx, t.StoreID, t.WAID, 3); err != nil {
			return Reply{}, err
		}
	}
	mctx, cancel := context.WithTimeout(ctx, modelTimeout)
	defer cancel()
	zero := 0.2
	out, err := r.model.Complete(mctx, ai.Request{JSON: true, MaxTokens: 600, Temperature: &zero, Messages: prompt(shop, orders, t)})
	if err != nil {
		r.log.Warn().Err(err).Str("store_id", t.StoreID).Msg("AI model failed; answering with the built-in responder")
		return r.fallback.Respond(ctx, t)
	}
	reply, err := CheckAnswer(shop, orders, out, r.fallback.publicURL)
	if err != nil {
		r.log.Warn().Err(err).Str("store_id", t.StoreID).Msg("AI answer rejected; answering with the built-in responder")
		if r.Rejected != nil {
			r.Rejected("invalid")
		}
		return r.fallback.Respond(ctx, t)
	}
	return reply, nil
}

func prompt(shop Storefront, orders []vayva.CustomerOrder, t Turn) []ai.Message {
	var sb strings.Builder
	fmt.Fprintf(&sb, `You are the WhatsApp shop assistant of %q. Answer the customer briefly and kindly, only from the catalog and orders below.
Never mention a product, price or link that is not listed. Write prices exactly as listed (currency %s).
If the customer wants to buy, put the chosen variant ids and quantities in "checkout"; a checkout link is added for you.
Answer with a JSON object: {"reply": "<message to the customer>", "product_ids": ["<ids of products you mention>"], "checkout": [{"variant_id": "<id>", "quantity": <n>}]}.
Catalog (one line per variant):
`, shop.Name, shop.Currency)
	n := 0
	for _, p := range shop.Products {
		for _, v := range p.Variants {
			fmt.Fprintf(&sb, "- product_id=%s variant_id=%s name=%q price=%s available=%d\n",
				p.ID, v.ID, variantName(p, v), FormatMoney(v.Price, shop.Currency), v.Available)
		}
		if n++; n == maxCatalogContext {
			break
		}
	}
	if t.Topic == TopicOrderStatus {
		sb.WriteString("The customer's orders:\n")
		if len(orders) == 0 {
			sb.WriteString("- none found for this phone number\n")
		}
		for _, o := range orders {
			fmt.Fprintf(&sb, "- order #%d placed %s total=%s state=%q\n", o.Number, o.CreatedAt.Format("2 Jan 2006"),
				FormatMoney(o.Total, o.Currency), orderState(o))
		}
	}
	msgs := []ai.Message{{Role: "system", Content: sb.String()}}
	for _, l := range t.History {
		role := "assistant"
		if l.FromCustomer {
			role = "user"
		}
		msgs = append(msgs, ai.Message{Role: role, Content: truncate(l.Text, 1000)})
	}
	return append(msgs, ai.Message{Role: "user", Content: truncate(t.Message.Text, 2000)})
}

// errRejected wraps every reason an answer is refused.
var errRejected = errors.New("agent: model answer rejected")

var linkPattern = regexp.MustCompile(`(?i)(https?://|www\.)`)

// CheckAnswer parses a model's JSON answer and accepts it only if it
// stays within the catalog: each product id is one of the store's, each
// price written in the text is the price of a variant (or the total of an
// order shown), the text has no links, and checkout items are in stock. An
// accepted checkout gets the link to the prefilled checkout appended.
func CheckAnswer(shop Storefront, orders []vayva.CustomerOrder, raw, publicURL string) (Reply, error) {
	var a modelAnswer
	if err := json.Unmarshal([]byte(strings.TrimSpace(raw)), &a); err != nil {
		return Reply{}, fmt.Errorf("%w: not the JSON asked for", errRejected)
	}
	text := strings.TrimSpace(a.Reply)
	switch {
	case text == "":
		return Reply{}, fmt.Errorf("%w: empty reply", errRejected)
	case len([]rune(text)) > 3000:
		return Reply{}, fmt.Errorf("%w: reply too long", errRejected)
	case linkPattern.MatchString(text):
		return Reply{}, fmt.Errorf("%w: the reply holds a link", errRejected)
	}
	products := map[string]Product{}
	prices := map[int64]bool{}
	for _, p := range shop.Products {
		products[p.ID] = p
		for _, v := range p.Variants {
			prices[v.Price] = true
		}
	}
	for _, o := range orders {
		prices[o.Total] = true
	}
	for _, id := range a.ProductIDs {
		if _, ok := products[id]; !ok {
			return Reply{}, fmt.Errorf("%w: product %.40q is not in the catalog", errRejected, id)
		}
	}
	amounts, ok := mentionedAmounts(text)
	if !ok {
		return Reply{}, fmt.Errorf("%w: unreadable price", errRejected)
	}
	var items []CheckoutItem
	for _, it := range a.Checkout {
		_, v, ok := findVariant(shop.Products, it.VariantID)
		switch {
		case !ok:
			return Reply{}, fmt.Errorf("%w: checkout variant %.40q is not in the catalog", errRejected, it.VariantID)
		case it.Quantity < 1 || it.Quantity > v.Available:
			return Reply{}, fmt.Errorf("%w: checkout quantity %d of %s is not available", errRejected, it.Quantity, v.ID)
		}
		prices[v.Price*it.Quantity] = true
		items = append(items, CheckoutItem{VariantID: v.ID, Quantity: it.Quantity})
	}
	if len(items) > 1 {
		var sum int64
		for _, it := range items {
			_, v, _ := findVariant(shop.Products, it.VariantID)
			sum += v.Price * it.Quantity
		}
		prices[sum] = true
	}
	for _, amt := range amounts {
		if !prices[amt] {
			return Reply{}, fmt.Errorf("%w: price %s is not in the catalog", errRejected, FormatMoney(amt, shop.Currency))
		}
	}
	if len(items) > 0 {
		text += "\nCheck out here: " + CheckoutURL(publicURL, shop.Slug, items)
	}
	return Reply{Source: "model", Text: text}, nil
}
