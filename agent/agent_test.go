package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/agent"
	"github.com/vayvahq/vayva/integrations/ai"
	"github.com/vayvahq/vayva/integrations/ai/aitest"
)

type shopCatalog struct{ shop agent.Storefront }

func (c shopCatalog) Storefront(context.Context, string) (agent.Storefront, error) {
	return c.shop, nil
}

type phoneOrders map[string][]vayva.CustomerOrder

func (o phoneOrders) OrdersByPhone(_ context.Context, _, waID string, limit int) ([]vayva.CustomerOrder, error) {
	out := o[waID]
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

var shop = agent.Storefront{StoreID: "sto_1", Slug: "ada-styles", Name: "Ada Styles", Currency: "NGN", Products: []agent.Product{
	{ID: "prod_dress", Title: "Ankara Dress", Description: "Cotton wax print", Variants: []agent.Variant{
		{ID: "var_red", Title: "Red", Price: 1500000, Available: 4}, {ID: "var_blue", Title: "Blue", Price: 1500000, Available: 0}}},
	{ID: "prod_bag", Title: "Leather Bag", Variants: []agent.Variant{{ID: "var_bag", Title: "Default", Price: 2250050, Available: 2}}},
}}

func TestFormatMoney(t *testing.T) {
	require.Equal(t, "₦15,000", agent.FormatMoney(1500000, "NGN"))
	require.Equal(t, "₦22,500.50", agent.FormatMoney(2250050, "NGN"))
	require.Equal(t, "$0.05", agent.FormatMoney(5, "USD"))
	require.Equal(t, "GH₵1,000,000", agent.FormatMoney(100000000, "GHS"))
}

func TestRouterRules(t *testing.T) {
	r := agent.NewRouter(nil)
	rules := agent.RulesFromSettings([]byte(`{"whatsapp_agent":{"support_keywords":["wholesale"]}}`))
	for _, c := range []struct {
		text, route, topic string
	}{
		{"Can I talk to a person please?", agent.RouteSupport, agent.TopicPerson},
		{"AGENT", agent.RouteSupport, agent.TopicPerson},
		{"Do you do wholesale prices?", agent.RouteSupport, agent.TopicKeyword},
		{"Where is my order?", agent.RouteSales, agent.TopicOrderStatus},
		{"Do you have ankara dress?", agent.RouteSales, agent.TopicGeneral},
	} {
		d := r.Route(context.Background(), rules, agent.Inbound{Type: "text", Text: c.text})
		require.Equal(t, c.route, d.Route, c.text)
		require.Equal(t, c.topic, d.Topic, c.text)
	}
	human := agent.RulesFromSettings([]byte(`{"whatsapp_agent":{"order_status":"human"}}`))
	require.Equal(t, agent.RouteSupport, r.Route(context.Background(), human, agent.Inbound{Text: "when will my order arrive"}).Route)
	require.Equal(t, agent.RouteSupport, r.Route(context.Background(), human, agent.Inbound{Text: "I want a refund"}).Route, "default keywords")
	require.Equal(t, agent.RouteSupport, r.Route(context.Background(), rules, agent.Inbound{ReplyID: agent.PersonReplyID}).Route)
}

func TestRouterClassifier(t *testing.T) {
	fake := aitest.NewServer("k", func(r aitest.Request) aitest.Answer {
		if strings.Contains(r.LastUser(), "upset") {
			return aitest.Answer{Content: "support"}
		}
		return aitest.Answer{Content: "Sales."}
	})
	defer fake.Close()
	m, err := ai.New(ai.Config{BaseURL: fake.BaseURL(), APIKey: "k", Model: "m"})
	require.NoError(t, err)
	r := agent.NewRouter(m)
	rules := agent.RulesFromSettings(nil)
	require.Equal(t, agent.RouteSupport, r.Route(context.Background(), rules, agent.Inbound{Text: "I am very upset with you"}).Route)
	require.Equal(t, agent.RouteSales, r.Route(context.Background(), rules, agent.Inbound{Text: "nice shoes"}).Route)
}

func TestBuiltinAnswersFromTheCatalog(t *testing.T) {
	orders := phoneOrders{"2348031234567": {{ID: "ord_1", Number: 1001, Status: "confirmed", PaymentStatus: "paid",
		FulfillmentStatus: "in_transit", Total: 3000000, Currency: "NGN", CreatedAt: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}}}
	b := agent.NewBuiltin(shopCatalog{shop}, orders, "http://shop.test/")
	ctx := context.Background()
	turn := func(text, reply, topic string) agent.Reply {
		r, err := b.Respond(ctx, agent.Turn{StoreID: "sto_1", WAID: "2348031234567", CustomerName: "Chidi Okafor",
			Message: agent.Inbound{Type: "text", Text: text, ReplyID: reply}, Topic: topic})
		require.NoError(t, err)
		return r
	}
	r := turn("Do you have ankara dresses?", "", agent.TopicGeneral)
	require.Contains(t, r.Text, "Ankara Dress (Red) — ₦15,000, 4 available")
	require.Contains(t, r.Text, "Ankara Dress (Blue) — ₦15,000, sold out")
	require.Equal(t, []agent.Button{{ID: "buy:var_red", Title: "Buy Ankara Dress (R…"}}, r.Buttons)

	r = turn("", "buy:var_red", agent.TopicGeneral)
	require.Contains(t, r.Text, "http://shop.test/checkout/ada-styles?items=var_red:1")
	r = turn("I want 2 leather bags", "", agent.TopicGeneral)
	require.Contains(t, r.Text, "₦45,001")
	require.Contains(t, r.Text, "items=var_bag:2")
	r = turn("I want 3 leather bags", "", agent.TopicGeneral)
	require.Contains(t, r.Text, "only 2")

	r = turn("hello", "", agent.TopicGeneral)
	require.Contains(t, r.Text, "Hi Chidi! Welcome to Ada Styles.")
	r = turn("where is my order", "", agent.TopicOrderStatus)
	require.Contains(t, r.Text, "Order #1001")
	require.Contains(t, r.Text, "on its way")
	r, err := b.Respond(ctx, agent.Turn{StoreID: "sto_1", WAID: "2348000000000", Message: agent.Inbound{Text: "where is my order"}, Topic: agent.TopicOrderStatus})
	require.NoError(t, err)
	require.Contains(t, r.Text, "could not find an order")
}

func TestCheckAnswer(t *testing.T) {
	ok, err := agent.CheckAnswer(shop, nil, `{"reply":"The Ankara Dress in red is ₦15,000 and we have 4.","product_ids":["prod_dress"],"checkout":[{"variant_id":"var_red","quantity":2}]}`, "http://x")
	require.NoError(t, err)
	require.Contains(t, ok.Text, "http://x/checkout/ada-styles?items=var_red:2")
	for _, bad := range []string{
		`not json`,
		`{"reply":""}`,
		`{"reply":"It costs ₦12,000.","product_ids":["prod_dress"]}`,
		`{"reply":"Try our Silk Scarf","product_ids":["prod_scarf"]}`,
		`{"reply":"Buy at https://evil.example","product_ids":[]}`,
		`{"reply":"Sure","checkout":[{"variant_id":"var_blue","quantity":1}]}`,
		`{"reply":"That is NGN 99.","product_ids":[]}`,
	} {
		_, err := agent.CheckAnswer(shop, nil, bad, "http://x")
		require.Error(t, err, bad)
	}
}

func TestModelResponderFallsBackOnABadAnswer(t *testing.T) {
	answer := `{"reply":"The Leather Bag is ₦22,500.50.","product_ids":["prod_bag"]}`
	fake := aitest.NewServer("k", func(r aitest.Request) aitest.Answer {
		require.Contains(t, r.System(), "variant_id=var_bag")
		require.Contains(t, r.System(), "price=₦22,500.50")
		return aitest.Answer{Content: answer}
	})
	defer fake.Close()
	m, err := ai.New(ai.Config{BaseURL: fake.BaseURL(), APIKey: "k", Model: "m"})
	require.NoError(t, err)
	var rejected int
	mr := agent.NewModelResponder(m, agent.NewBuiltin(shopCatalog{shop}, phoneOrders{}, "http://x"), zerolog.Nop())
	mr.Rejected = func(string) { rejected++ }
	turn := agent.Turn{StoreID: "sto_1", WAID: "234", Message: agent.Inbound{Type: "text", Text: "leather bag?"}}
	r, err := mr.Respond(context.Background(), turn)
	require.NoError(t, err)
	require.Equal(t, "model", r.Source)
	require.Equal(t, "The Leather Bag is ₦22,500.50.", r.Text)

	answer = `{"reply":"The Leather Bag is on sale for ₦9,999!","product_ids":["prod_bag"]}`
	r, err = mr.Respond(context.Background(), turn)
	require.NoError(t, err)
	require.Equal(t, "builtin", r.Source)
	require.Contains(t, r.Text, "₦22,500.50")
	require.Equal(t, 1, rejected)
}
