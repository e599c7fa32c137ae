package agent

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/vayvahq/vayva"
)

// BuyReplyPrefix starts the id of a "Buy …" reply button: "buy:<variant id>".
const BuyReplyPrefix = "buy:"

// maxMatches is how many products one answer lists.
const maxMatches = 3

// Builtin is the built-in responder: it answers from the store's live
// catalog (the store actor's products, prices in the store's currency,
// live availability) and order history, and starts checkouts with a link
// to a prefilled checkout page.
type Builtin struct {
	catalog   Catalog
	orders    Orders
	publicURL string
}

// NewBuiltin returns the built-in responder. publicURL is the base of the
// checkout links (VAYVA_PUBLIC_URL).
func NewBuiltin(catalog Catalog, orders Orders, publicURL string) *Builtin {
	return &Builtin{catalog: catalog, orders: orders, publicURL: strings.TrimRight(publicURL, "/")}
}

var _ Responder = (*Builtin)(nil)

// CheckoutURL is the link to the store's checkout page prefilled with
// items (variant id → quantity, in the order given).
func CheckoutURL(publicURL, slug string, items []CheckoutItem) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = it.VariantID + ":" + strconv.FormatInt(it.Quantity, 10)
	}
	return strings.TrimRight(publicURL, "/") + "/checkout/" + url.PathEscape(slug) + "?items=" + strings.Join(parts, ",")
}

// CheckoutItem is one line of a prefilled checkout.
type CheckoutItem struct {
	VariantID string
	Quantity  int64
}

// Respond answers one sales message.
func (b *Builtin) Respond(ctx context.Context, t Turn) (Reply, error) {
	if t.Topic == TopicOrderStatus {
		return b.orderStatus(ctx, t)
	}
	shop, err := b.catalog.Storefront(ctx, t.StoreID)
	if err != nil {
		return Reply{}, err
	}
	if id, ok := strings.CutPrefix(t.Message.ReplyID, BuyReplyPrefix); ok {
		return b.checkout(shop, id, 1), nil
	}
	text := normalize(t.Message.Text)
	if text == "" {
		return Reply{Source: "builtin", Text: "Sorry, I can only read text messages for now. Tell me what you are looking for, " +
			"or reply \"agent\" to talk to a person."}, nil
	}
	matches := search(shop.Products, text)
	if len(matches) == 0 {
		return b.welcome(shop, t, isGreeting(text)), nil
	}
	qty := quantityIn(text)
	if wantsToBuy(text) {
		if v, ok := singleChoice(matches); ok {
			return b.checkout(shop, v.ID, qty), nil
		}
	}
	return b.listing(shop, matches), nil
}

func (b *Builtin) welcome(shop Storefront, t Turn, greeting bool) Reply {
	var sb strings.Builder
	if greeting {
		if f := strings.Fields(t.CustomerName); len(f) > 0 {
			name := f[0]
			fmt.Fprintf(&sb, "Hi %s! Welcome to %s. ", name, shop.Name)
		} else {
			fmt.Fprintf(&sb, "Hi! Welcome to %s. ", shop.Name)
		}
	} else {
		sb.WriteString("Sorry, I could not find that in our catalog. ")
	}
	var some []string
	for _, p := range shop.Products {
		if v, ok := cheapestAvailable(p); ok {
			some = append(some, fmt.Sprintf("%s (%s)", p.Title, FormatMoney(v.Price, shop.Currency)))
		}
		if len(some) == maxMatches {
			break
		}
	}
	if len(some) > 0 {
		sb.WriteString("We have " + strings.Join(some, ", ") + ". ")
	}
	sb.WriteString("Tell me what you are looking for, ask \"where is my order\", or reply \"agent\" to talk to a person.")
	return Reply{Source: "builtin", Text: sb.String()}
}

// listing shows the matching products with price and availability and
// offers a Buy button per available variant.
func (b *Builtin) listing(shop Storefront, matches []Product) Reply {
	var sb strings.Builder
	sb.WriteString("Here is what we have:")
	var buttons []Button
	for _, p := range matches {
		for _, v := range p.Variants {
			fmt.Fprintf(&sb, "\n• %s — %s, %s", variantName(p, v), FormatMoney(v.Price, shop.Currency), availability(v))
			if v.Available > 0 && len(buttons) < 3 {
				buttons = append(buttons, Button{ID: BuyReplyPrefix + v.ID, Title: buttonTitle("Buy " + variantName(p, v))})
			}
		}
	}
	if len(buttons) > 0 {
		sb.WriteString("\nTap a button to buy, or tell me what you want and how many.")
	}
	return Reply{Source: "builtin", Text: sb.String(), Buttons: buttons}
}

// checkout answers a choice of variant with a link to a prefilled checkout.
func (b *Builtin) checkout(shop Storefront, variantID string, qty int64) Reply {
	p, v, ok := findVariant(shop.Products, variantID)
	switch {
	case !ok:
		return Reply{Source: "builtin", Text: "Sorry, that item is no longer available. Tell me what you are looking for."}
	case v.Available <= 0:
		return Reply{Source: "builtin", Text: fmt.Sprintf("Sorry, %s is sold out right now.", variantName(p, v))}
	case qty > v.Available:
		return Reply{Source: "builtin", Text: fmt.Sprintf("Sorry, only %d of %s are available. Tell me how many you want.", v.Available, variantName(p, v))}
	}
	link := CheckoutURL(b.publicURL, shop.Slug, []CheckoutItem{{VariantID: v.ID, Quantity: qty}})
	return Reply{Source: "builtin", Text: fmt.Sprintf("Great choice! %s × %d = %s.\nCheck out here: %s",
		variantName(p, v), qty, FormatMoney(v.Price*qty, shop.Currency), link)}
}

// orderStatus answers "where is my order" from the orders placed with the
// customer's number.
func (b *Builtin) orderStatus(ctx context.Context, t Turn) (Reply, error) {
	orders, err := b.orders.OrdersByPhone(ctx, t.StoreID, t.WAID, 3)
	if err != nil {
		return Reply{}, err
	}
	if len(orders) == 0 {
		return Reply{Source: "builtin", Text: fmt.Sprintf("I could not find an order placed with this number (+%s). "+
			"If you ordered with another number, reply \"agent\" and a person will help.", t.WAID),
			Buttons: []Button{{ID: PersonReplyID, Title: "Talk to a person"}}}, nil
	}
	var sb strings.Builder
	if len(orders) == 1 {
		sb.WriteString("Here is your order:")
	} else {
		sb.WriteString("Here are your latest orders:")
	}
	for _, o := range orders {
		fmt.Fprintf(&sb, "\n• Order #%d (%s) — %s: %s", o.Number, o.CreatedAt.Format("2 Jan"),
			FormatMoney(o.Total, o.Currency), orderState(o))
	}
	return Reply{Source: "builtin", Text: sb.String()}, nil
}

// orderState says where an order is in words a customer understands.
func orderState(o vayva.CustomerOrder) string {
	switch o.Status {
	case "awaiting_payment":
		return "waiting for payment"
	case "expired":
		return "expired before it was paid"
	case "canceled":
		if o.PaymentStatus == "refunded" {
			return "canceled and refunded"
		}
		return "canceled"
	}
	switch o.FulfillmentStatus {
	case "booked":
		return "paid; a delivery is booked"
	case "picked_up", "in_transit":
		return "on its way"
	case "delivered", "fulfilled":
		return "delivered"
	case "failed":
		return "the delivery failed; we will contact you"
	}
	if o.Status == "completed" {
		return "completed"
	}
	return "paid; being prepared"
}

func availability(v Variant) string {
	if v.Available <= 0 {
		return "sold out"
	}
	return strconv.FormatInt(v.Available, 10) + " available"
}

func variantName(p Product, v Variant) string {
	if v.Title == "" || v.Title == "Default" || len(p.Variants) == 1 && strings.EqualFold(v.Title, p.Title) {
		return p.Title
	}
	return p.Title + " (" + v.Title + ")"
}

func buttonTitle(s string) string {
	r := []rune(s)
	if len(r) > 20 {
		return string(r[:19]) + "…"
	}
	return s
}

func findVariant(ps []Product, id string) (Product, Variant, bool) {
	for _, p := range ps {
		for _, v := range p.Variants {
			if v.ID == id {
				return p, v, true
			}
		}
	}
	return Product{}, Variant{}, false
}

func cheapestAvailable(p Product) (Variant, bool) {
	var best Variant
	ok := false
	for _, v := range p.Variants {
		if v.Available > 0 && (!ok || v.Price < best.Price) {
			best, ok = v, true
		}
	}
	return best, ok
}

// singleChoice returns the variant a buying customer means when the best
// match leaves one available variant.
func singleChoice(matches []Product) (Variant, bool) {
	var avail []Variant
	for _, v := range matches[0].Variants {
		if v.Available > 0 {
			avail = append(avail, v)
		}
	}
	if len(avail) != 1 {
		return Variant{}, false
	}
	return avail[0], true
}

// stopWords carry no product meaning.
var stopWords = map[string]bool{
	"a": true, "an": true, "the": true, "i": true, "im": true, "me": true, "my": true, "you": true, "your": true, "we": true,
	"do": true, "does": true, "have": true, "has": true, "is": true, "are": true, "any": true, "some": true, "of": true,
	"for": true, "in": true, "on": true, "at": true, "to": true, "and": true, "or": true, "with": true, "this": true,
	"that": true, "it": true, "please": true, "pls": true, "want": true, "wanna": true, "need": true, "buy": true,
	"get": true, "how": true, "much": true, "price": true, "cost": true, "stock": true, "available": true, "sell": true,
	"there": true, "can": true, "what": true, "looking": true, "like": true, "would": true, "hi": true, "hello": true,
	"hey": true, "good": true, "morning": true, "afternoon": true, "evening": true, "one": true, "two": true, "three": true,
	"order": true, "take": true, "ill": true, "id": true, "purchase": true, "checkout": true, "still": true, "yours": true,
}

func tokens(text string) []string {
	var out []string
	for _, w := range strings.Fields(text) {
		if stopWords[w] || len(w) < 2 {
			continue
		}
		if _, err := strconv.Atoi(w); err == nil {
			continue
		}
		out = append(out, w)
	}
	return out
}

func stem(w string) string {
	if len(w) > 3 && strings.HasSuffix(w, "es") && !strings.HasSuffix(w, "ses") {
		return w[:len(w)-2]
	}
	if len(w) > 2 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
		return w[:len(w)-1]
	}
	return w
}

func wordSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(normalize(s)) {
		m[w], m[stem(w)] = true, true
	}
	return m
}

// search scores the products by the customer's words: a word of the title
// counts most, of a variant or SKU less, of the description least.
func search(ps []Product, text string) []Product {
	words := tokens(text)
	if len(words) == 0 {
		return nil
	}
	type scored struct {
		p     Product
		score int
		i     int
	}
	var hits []scored
	for i, p := range ps {
		title, desc := wordSet(p.Title), wordSet(p.Description)
		variants := map[string]bool{}
		for _, v := range p.Variants {
			for w := range wordSet(v.Title + " " + v.SKU) {
				variants[w] = true
			}
		}
		score := 0
		for _, w := range words {
			s := stem(w)
			switch {
			case title[w] || title[s]:
				score += 3
			case variants[w] || variants[s]:
				score += 2
			case desc[w] || desc[s]:
				score++
			}
		}
		if score > 0 {
			hits = append(hits, scored{p, score, i})
		}
	}
	sort.SliceStable(hits, func(a, b int) bool { return hits[a].score > hits[b].score })
	var out []Product
	for _, h := range hits {
		if len(out) == maxMatches || h.score < hits[0].score/2 {
			break
		}
		out = append(out, h.p)
	}
	return out
}

var numberWords = map[string]int64{"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}

// quantityIn reads how many the customer wants: the first small number
// in the text, 1 when none.
func quantityIn(text string) int64 {
	for _, w := range strings.Fields(text) {
		if n, err := strconv.ParseInt(w, 10, 64); err == nil && n > 0 && n <= 99 {
			return n
		}
		if n, ok := numberWords[w]; ok {
			return n
		}
	}
	return 1
}

func wantsToBuy(text string) bool {
	return containsPhrase(text, []string{"buy", "order", "i want", "want", "ill take", "i will take", "purchase", "checkout", "i need", "send me"})
}

func isGreeting(text string) bool {
	return containsPhrase(text, []string{"hi", "hello", "hey", "good morning", "good afternoon", "good evening", "howdy"})
}
