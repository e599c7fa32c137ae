// Package agent decides who answers a WhatsApp customer and drafts the AI's
// answers. The Router sends each inbound message to sales (the AI
// answers) or support (a person takes over), by the store's rules and,
// when a model is configured, a model-based classifier. A Responder
// answers sales messages: the built-in one from the store's live catalog
// and order history, the model one through an OpenAI-compatible chat model
// whose answer is checked against the catalog before it is sent.
//
// The package holds decisions only; the conversation actor records them
// and the outbound worker sends the replies.
package agent

import (
	"context"
	"time"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/ai"
)

// Routes of a message.
const (
	RouteSales   = "sales"
	RouteSupport = "support"
)

// Topics a message is about, as the router saw it.
const (
	TopicPerson      = "person"
	TopicKeyword     = "keyword"
	TopicOrderStatus = "order_status"
	TopicClassifier  = "classifier"
	TopicGeneral     = "general"
)

// Storefront is what a responder knows of the store: its public identity
// and its active products with live availability.
type Storefront struct {
	StoreID  string
	Slug     string
	Name     string
	Currency string
	Products []Product
}

// Product is an active product of the store.
type Product struct {
	ID          string
	Title       string
	Description string
	Variants    []Variant
}

// Variant is a purchasable variant with its price (minor units) and what
// can still be sold.
type Variant struct {
	ID        string
	SKU       string
	Title     string
	Price     int64
	Available int64
}

// Catalog reads a store's storefront as the store actor has it now.
type Catalog interface {
	Storefront(ctx context.Context, storeID string) (Storefront, error)
}

// Orders finds a customer's orders by their WhatsApp id (E.164 digits).
type Orders interface {
	OrdersByPhone(ctx context.Context, storeID, waID string, limit int) ([]vayva.CustomerOrder, error)
}

// Model is a chat-completions model. Implemented by *ai.Client.
type Model interface {
	Complete(ctx context.Context, r ai.Request) (string, error)
}

var _ Model = (*ai.Client)(nil)

// Inbound is the customer message being answered.
type Inbound struct {
	Type    string
	Text    string
	ReplyID string
}

// Line is one earlier message of the thread.
type Line struct {
	// FromCustomer is true for the customer's messages.
	FromCustomer bool
	Text         string
}

// Turn is everything a responder answers from.
type Turn struct {
	StoreID      string
	WAID         string
	CustomerName string
	Message      Inbound
	// History is the thread before Message, oldest first.
	History []Line
	// Topic is the router's topic for Message.
	Topic string
}

// Button is a reply button; a tap comes back as a message with ReplyID.
type Button struct {
	ID    string
	Title string
}

// Reply is a responder's answer.
type Reply struct {
	Text    string
	Buttons []Button
	// Source says which responder wrote it: "builtin" or "model".
	Source string
}

// Responder answers a sales message.
type Responder interface {
	Respond(ctx context.Context, t Turn) (Reply, error)
}

// modelTimeout bounds one model call of the router or the responder; the
// built-in decision or answer is used when it passes.
const modelTimeout = 15 * time.Second
