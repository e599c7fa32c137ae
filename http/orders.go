package http

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/auth"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/messages"
	"google.golang.org/protobuf/proto"
)

// OrderReader is the orders read model, written in the order actors'
// transactions. Implemented by *postgres.Orders.
type OrderReader interface {
	StoreOrder(ctx context.Context, storeID, id string) (*actors.Order, error)
	CustomerOrder(ctx context.Context, slug, id, token string) (*actors.Order, error)
	OrderStatus(ctx context.Context, slug, id string) (number int64, status, storeName string, err error)
	ListOrders(ctx context.Context, storeID, status string, limit int, cursor string) ([]*actors.Order, string, error)
}

// OrdersConfig configures the orders area.
type OrdersConfig struct {
	// CheckoutTTL is how long checkout reserves stock before an unpaid
	// order expires (VAYVA_CHECKOUT_TTL). Defaults to 30 minutes.
	CheckoutTTL time.Duration
}

// reservationGrace keeps a checkout's stock reserved a little longer than
// its order lives: the order's own expiry (which asks Paystack one last
// time) releases it, and the reservation's expiry is only the safety net
// for an order that was never created.
const reservationGrace = 5 * time.Minute

// OrdersArea serves checkout, the customer's order view and the merchant's
// order routes. Checkout reserves the stock in the store actor (which
// prices every line) and creates the order in its order actor (which opens
// the Paystack payment); reads come from the orders read model; commands
// go to the order actor.
type OrdersArea struct {
	cfg    OrdersConfig
	member *cluster.Member
	stores StoreDirectory
	orders OrderReader
	log    zerolog.Logger
}

// NewOrdersArea returns the orders area.
func NewOrdersArea(cfg OrdersConfig, member *cluster.Member, stores StoreDirectory, orders OrderReader, log zerolog.Logger) *OrdersArea {
	if cfg.CheckoutTTL <= 0 {
		cfg.CheckoutTTL = 30 * time.Minute
	}
	return &OrdersArea{cfg: cfg, member: member, stores: stores, orders: orders, log: log.With().Str("component", "orders").Logger()}
}

// Register adds the area's routes.
func (a *OrdersArea) Register(r *Routes) {
	r.Handle("POST", "/v1/storefront/{slug}/checkout", Public, a.checkout, RequireIdempotencyKey())
	r.Handle("GET", "/v1/storefront/{slug}/orders/{id}", Public, a.customerOrder)
	r.Handle("GET", "/storefront/{slug}/orders/{id}", Public, a.orderPage)

	r.Handle("GET", "/v1/orders", Merchant, a.listOrders)
	r.Handle("GET", "/v1/orders/{id}", Merchant, a.getOrder)
	r.Handle("POST", "/v1/orders/{id}/cancel", Merchant, a.cancelOrder)
	r.Handle("POST", "/v1/orders/{id}/refund", Merchant, a.refundOrder)
	r.Handle("POST", "/v1/orders/{id}/fulfill", Merchant, a.fulfillOrder)
	r.Handle("GET", "/v1/orders/{id}/deliveries", Merchant, a.listDeliveries)
	r.Handle("POST", "/v1/orders/{id}/deliveries", Merchant, a.requestDelivery)
}

// Checkout bodies.
type checkoutItem struct {
	VariantID string `json:"variant_id"`
	Quantity  int64  `json:"quantity"`
}

type addressJSON struct {
	Name    string `json:"name"`
	Line1   string `json:"line1"`
	City    string `json:"city"`
	State   string `json:"state"`
	Country string `json:"country"`
	Phone   string `json:"phone"`
}

type checkoutRequest struct {
	Email           string         `json:"email"`
	Phone           string         `json:"phone"`
	Name            string         `json:"name"`
	Items           []checkoutItem `json:"items"`
	ShippingAddress *addressJSON   `json:"shipping_address"`
}

// Bounds of checkout fields.
const (
	maxCheckoutItems = actors.MaxReservationItems
	maxAddressField  = 200
	maxPhoneLength   = 32
)

// decodeCheckout parses and validates a checkout body. Prices and totals
// are not fields: a client that sends them is refused like any unknown
// field.
func decodeCheckout(body []byte) (*checkoutRequest, error) {
	var req checkoutRequest
	if err := decodeJSONBytes(body, &req); err != nil {
		return nil, err
	}
	var v vayva.Validation
	req.Email = strings.TrimSpace(req.Email)
	v.Check(auth.ValidEmail(req.Email), "email", "must be an email address")
	req.Phone = checkoutText(&v, "phone", req.Phone, maxPhoneLength, false)
	req.Name = checkoutText(&v, "name", req.Name, maxAddressField, false)
	switch n := len(req.Items); {
	case n == 0:
		v.Add("items", "must have at least one item")
	case n > maxCheckoutItems:
		v.Add("items", "must have at most %d items", maxCheckoutItems)
	}
	for i, it := range req.Items {
		if i >= maxCheckoutItems {
			break
		}
		if it.VariantID == "" {
			v.Add(fieldIndex("items", i, "variant_id"), "is required")
		}
		if it.Quantity < 1 || it.Quantity > actors.MaxQuantity {
			v.Add(fieldIndex("items", i, "quantity"), "must be between 1 and %d", int64(actors.MaxQuantity))
		}
	}
	if a := req.ShippingAddress; a == nil {
		v.Add("shipping_address", "is required")
	} else {
		a.Name = checkoutText(&v, "shipping_address.name", a.Name, maxAddressField, true)
		a.Line1 = checkoutText(&v, "shipping_address.line1", a.Line1, maxAddressField, true)
		a.City = checkoutText(&v, "shipping_address.city", a.City, maxAddressField, true)
		a.State = checkoutText(&v, "shipping_address.state", a.State, maxAddressField, true)
		a.Country = checkoutText(&v, "shipping_address.country", a.Country, maxAddressField, true)
		a.Phone = checkoutText(&v, "shipping_address.phone", a.Phone, maxPhoneLength, false)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if req.Phone == "" && req.ShippingAddress.Phone != "" {
		req.Phone = req.ShippingAddress.Phone
	}
	return &req, nil
}

func fieldIndex(list string, i int, field string) string {
	return list + "[" + strconv.Itoa(i) + "]." + field
}

// checkoutText trims a single-line text field and checks its length.
func checkoutText(v *vayva.Validation, field, s string, max int, required bool) string {
	s = strings.TrimSpace(s)
	switch {
	case s == "" && required:
		v.Add(field, "is required")
	case utf8.RuneCountInString(s) > max || !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		v.Add(field, "must be at most %d characters on one line", max)
	}
	return s
}

// checkout serves POST /v1/storefront/{slug}/checkout.
func (a *OrdersArea) checkout(ctx context.Context, rc *fasthttp.RequestCtx) error {
	req, err := decodeCheckout(rc.PostBody())
	if err != nil {
		return err
	}
	if a.member == nil || a.stores == nil || a.orders == nil {
		return vayva.Errorf(vayva.EUNAVAILABLE, "Checkout is not available on this node.")
	}
	slug, _ := rc.UserValue("slug").(string)
	storeID, err := a.stores.StoreIDBySlug(ctx, slug)
	if err != nil {
		return err
	}

	seed, token := checkoutIDs(rc)
	hash := sha256.Sum256([]byte(token))
	now := time.Now()
	expires := now.Add(a.cfg.CheckoutTTL)
	items := make([]*messages.ReservationItem, len(req.Items))
	for i, it := range req.Items {
		items[i] = &messages.ReservationItem{VariantId: it.VariantID, Quantity: it.Quantity}
	}
	orderID, reservation, err := a.reserveCheckout(ctx, storeID, seed, items, expires)
	if err != nil {
		return err
	}
	address := req.ShippingAddress
	order, err := cluster.Request[*messages.Order](ctx, a.member, actors.OrderKind, orderID, &messages.CreateOrder{
		// A retry whose first answer was lost reaches the same order
		// (reserveCheckout) and answers with the same token.
		CommandId: "create:" + orderID, StoreId: storeID, MerchantId: reservation.GetMerchantId(), StoreSlug: reservation.GetStoreSlug(),
		StoreName: reservation.GetStoreName(), Reservation: reservation,
		Customer: &messages.Customer{Email: req.Email, Phone: req.Phone, Name: firstNonEmpty(req.Name, address.Name)},
		ShippingAddress: &messages.Address{Name: address.Name, Line1: address.Line1, City: address.City,
			State: address.State, Country: address.Country, Phone: address.Phone},
		TokenHash: hash[:], ExpiresAtUnixMs: expires.UnixMilli(),
	})
	if err != nil {
		a.releaseFailedCheckout(ctx, storeID, orderID)
		return err
	}
	return writeJSON(rc, fasthttp.StatusCreated, checkoutJSON{
		Order:      checkoutOrderView(order),
		OrderToken: token,
		Payment:    paymentJSON{Provider: "paystack", Reference: order.GetPaymentReference(), AuthorizationURL: order.GetAuthorizationUrl()},
	})
}

// maxCheckoutAttempts bounds how many reservations one Idempotency-Key
// may take: each attempt whose order was definitely not created gave its
// stock back, and the next retry reserves under the next id.
const maxCheckoutAttempts = 8

// reserveCheckout reserves the items under an order id derived from the
// request and its Idempotency-Key (checkoutIDs), so a retry whose first
// answer was lost (the member died, the connection dropped) finds the same
// reservation and order instead of creating a second one. An id whose reservation was given
// back without an order is skipped for the next one.
func (a *OrdersArea) reserveCheckout(ctx context.Context, storeID, seed string, items []*messages.ReservationItem, expires time.Time) (string, *messages.Reservation, error) {
	for n := range maxCheckoutAttempts {
		orderID := vayva.DerivedID("ord", seed)
		if n > 0 {
			orderID = vayva.DerivedID("ord", seed+"\x00"+strconv.Itoa(n))
		}
		reservation, err := cluster.Request[*messages.Reservation](ctx, a.member, actors.StoreKind, storeID, &messages.ReserveItems{
			CommandId: "checkout:" + orderID, ReservationId: orderID, Items: items,
			ExpiresAtUnixMs: expires.Add(reservationGrace).UnixMilli(),
		})
		if err != nil {
			return "", nil, err
		}
		if reservation.GetStatus() == actors.ReservationReleased {
			if _, err := cluster.Request[*messages.Order](ctx, a.member, actors.OrderKind, orderID, &messages.GetOrder{}); vayva.ErrorCode(err) == vayva.ENOTFOUND {
				continue
			}
		}
		return orderID, reservation, nil
	}
	return "", nil, vayva.Errorf(vayva.ECONFLICT, "This Idempotency-Key was retried too often; use a new one.")
}

// releaseFailedCheckout gives a failed checkout's stock back now rather
// than at the reservation's expiry, but only once the order's owner says
// there is no order: a failure may be a lost answer to a create that
// committed, and that order holds the stock.
func (a *OrdersArea) releaseFailedCheckout(ctx context.Context, storeID, orderID string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := cluster.Request[*messages.Order](rctx, a.member, actors.OrderKind, orderID, &messages.GetOrder{})
	if vayva.ErrorCode(err) != vayva.ENOTFOUND {
		a.log.Warn().Err(err).Str("order_id", orderID).Msg("a failed checkout's order may exist; its stock stays reserved until the reservation expires")
		return
	}
	if _, err := cluster.Request[*messages.Reservation](rctx, a.member, actors.StoreKind, storeID,
		&messages.ReleaseReservation{CommandId: "checkout-release:" + orderID, ReservationId: orderID}); err != nil {
		a.log.Warn().Err(err).Str("order_id", orderID).Msg("releasing a failed checkout's stock; it expires with its reservation")
	}
}

// checkoutIDs are the seed of a checkout's order ids (see
// reserveCheckout) and its order token. With an
// Idempotency-Key (checkout requires one) both derive from the request
// (principal, path, body and key, as commandID), so a retry that runs
// again, after the member that ran the first attempt died and its claim was
// released, reaches the same order and stock reservation and answers with
// the same token: the checkout happens once. The token so depends on what
// the idempotent replay of the stored answer already requires.
func checkoutIDs(rc *fasthttp.RequestCtx) (seed, token string) {
	if len(rc.Request.Header.Peek("Idempotency-Key")) == 0 {
		return vayva.NewID("ord"), vayva.NewSecret("otok_")
	}
	seed = commandID(rc, "checkout")
	sum := sha256.Sum256([]byte("order-token\x00" + seed))
	return seed, "otok_" + hex.EncodeToString(sum[:])
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// The answers.
type checkoutJSON struct {
	Order      orderJSON   `json:"order"`
	OrderToken string      `json:"order_token"`
	Payment    paymentJSON `json:"payment"`
}

type paymentJSON struct {
	Provider         string `json:"provider"`
	Reference        string `json:"reference"`
	AuthorizationURL string `json:"authorization_url,omitempty"`
}

type orderLineJSON struct {
	VariantID    string `json:"variant_id"`
	ProductID    string `json:"product_id"`
	SKU          string `json:"sku"`
	Title        string `json:"title"`
	VariantTitle string `json:"variant_title"`
	Quantity     int64  `json:"quantity"`
	UnitPrice    int64  `json:"unit_price"`
	Total        int64  `json:"total"`
}

type customerJSON struct {
	Email string `json:"email"`
	Phone string `json:"phone,omitempty"`
	Name  string `json:"name,omitempty"`
}

type orderEventJSON struct {
	Type string `json:"type"`
	At   string `json:"at"`
}

type refundJSON struct {
	ID        string `json:"id"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Reason    string `json:"reason"`
	Status    string `json:"status"`
	Automatic bool   `json:"automatic"`
	CreatedAt string `json:"created_at"`
}

// orderJSON is an order as the API shows it. Checkout shows the first
// fields; the merchant and customer views add the rest.
type orderJSON struct {
	ID                string          `json:"id"`
	Number            int64           `json:"number"`
	Status            string          `json:"status"`
	PaymentStatus     string          `json:"payment_status"`
	FulfillmentStatus string          `json:"fulfillment_status"`
	Subtotal          int64           `json:"subtotal"`
	ShippingTotal     int64           `json:"shipping_total"`
	Total             int64           `json:"total"`
	Currency          string          `json:"currency"`
	Items             []orderLineJSON `json:"items"`
	ExpiresAt         string          `json:"expires_at"`
	CreatedAt         string          `json:"created_at"`

	AmountPaid      *int64           `json:"amount_paid,omitempty"`
	AmountRefunded  *int64           `json:"amount_refunded,omitempty"`
	Customer        *customerJSON    `json:"customer,omitempty"`
	ShippingAddress *addressJSON     `json:"shipping_address,omitempty"`
	Events          []orderEventJSON `json:"events,omitempty"`
	Refunds         []refundJSON     `json:"refunds,omitempty"`
	Payment         *paymentJSON     `json:"payment,omitempty"`
	PaidAt          *string          `json:"paid_at,omitempty"`
	CanceledAt      *string          `json:"canceled_at,omitempty"`
	CancelReason    string           `json:"cancel_reason,omitempty"`
	UpdatedAt       string           `json:"updated_at,omitempty"`
	// Shipping is what checkout chose; Delivery the current booking
	// (detail views).
	Shipping *shippingJSON      `json:"shipping,omitempty"`
	Delivery *orderDeliveryJSON `json:"delivery,omitempty"`
}

// checkoutOrderView is the order in the checkout answer.
func checkoutOrderView(o *messages.Order) orderJSON {
	out := orderJSON{
		ID: o.GetId(), Number: o.GetNumber(), Status: o.GetStatus(), PaymentStatus: o.GetPaymentStatus(),
		FulfillmentStatus: o.GetFulfillmentStatus(), Subtotal: o.GetSubtotal(), ShippingTotal: o.GetShippingTotal(),
		Total: o.GetTotal(), Currency: o.GetCurrency(), Items: []orderLineJSON{},
		ExpiresAt: timeJSON(time.UnixMilli(o.GetExpiresAtUnixMs())), CreatedAt: timeJSON(time.UnixMilli(o.GetCreatedAtUnixMs())),
	}
	if s := o.GetShipping(); s != nil {
		out.Shipping = &shippingJSON{Method: s.GetMethod(), Provider: s.GetProvider(), Fee: s.GetFee(), Quoted: s.GetQuoted(), AutoBook: s.GetAutoBook()}
	}
	for _, l := range o.GetLines() {
		out.Items = append(out.Items, orderLineJSON{VariantID: l.GetVariantId(), ProductID: l.GetProductId(), SKU: l.GetSku(),
			Title: l.GetTitle(), VariantTitle: l.GetVariantTitle(), Quantity: l.GetQuantity(), UnitPrice: l.GetUnitPrice(), Total: l.GetTotal()})
	}
	return out
}

// orderView renders an order of the read model. detail adds what the order
// page shows (timeline, refunds, payment); the list shows the rest.
func orderView(o *actors.Order, detail bool) orderJSON {
	out := orderJSON{
		ID: o.ID, Number: o.Number, Status: o.Status, PaymentStatus: o.PaymentStatus, FulfillmentStatus: o.FulfillmentStatus,
		Subtotal: o.Subtotal, ShippingTotal: o.ShippingTotal, Total: o.Total, Currency: o.Currency, Items: []orderLineJSON{},
		ExpiresAt: timeJSON(o.ExpiresAt), CreatedAt: timeJSON(o.CreatedAt), UpdatedAt: timeJSON(o.UpdatedAt),
		AmountPaid: &o.AmountPaid, AmountRefunded: &o.AmountRefunded,
		Customer:     &customerJSON{Email: o.Customer.Email, Phone: o.Customer.Phone, Name: o.Customer.Name},
		CancelReason: o.CancelReason,
		Shipping:     shippingView(o.Shipping),
	}
	for _, l := range o.Lines {
		out.Items = append(out.Items, orderLineJSON{VariantID: l.VariantID, ProductID: l.ProductID, SKU: l.SKU, Title: l.Title,
			VariantTitle: l.VariantTitle, Quantity: l.Quantity, UnitPrice: l.UnitPrice, Total: l.Total()})
	}
	if a := o.ShippingAddress; a != nil {
		out.ShippingAddress = &addressJSON{Name: a.Name, Line1: a.Line1, City: a.City, State: a.State, Country: a.Country, Phone: a.Phone}
	}
	if !o.PaidAt.IsZero() {
		t := timeJSON(o.PaidAt)
		out.PaidAt = &t
	}
	if !o.CanceledAt.IsZero() {
		t := timeJSON(o.CanceledAt)
		out.CanceledAt = &t
	}
	if !detail {
		return out
	}
	out.Events = []orderEventJSON{}
	for _, e := range o.Events {
		out.Events = append(out.Events, orderEventJSON{Type: e.Type, At: timeJSON(e.At)})
	}
	out.Refunds = []refundJSON{}
	for _, r := range o.Refunds {
		out.Refunds = append(out.Refunds, refundJSON{ID: r.ID, Amount: r.Amount, Currency: r.Currency, Reason: r.Reason,
			Status: r.Status, Automatic: r.Automatic, CreatedAt: timeJSON(r.CreatedAt)})
	}
	p := &paymentJSON{Provider: "paystack", Reference: o.PaymentReference}
	if o.Status == actors.OrderAwaitingPayment {
		p.AuthorizationURL = o.AuthorizationURL
	}
	out.Payment = p
	out.Delivery = currentDeliveryView(o)
	return out
}

// customerOrder serves GET /v1/storefront/{slug}/orders/{id}?token=: the
// order as its customer may see it. A wrong token is not found.
func (a *OrdersArea) customerOrder(ctx context.Context, rc *fasthttp.RequestCtx) error {
	if a.orders == nil {
		return vayva.Errorf(vayva.EUNAVAILABLE, "Orders are not available on this node.")
	}
	slug, _ := rc.UserValue("slug").(string)
	id, _ := rc.UserValue("id").(string)
	o, err := a.orders.CustomerOrder(ctx, slug, id, string(rc.QueryArgs().Peek("token")))
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, orderView(o, true))
}

// orderStatuses are the values of ?status= on GET /v1/orders.
var orderStatuses = []string{actors.OrderAwaitingPayment, actors.OrderConfirmed, actors.OrderCompleted, actors.OrderExpired, actors.OrderCanceled}

// listOrders serves GET /v1/orders?status=, newest first.
func (a *OrdersArea) listOrders(ctx context.Context, rc *fasthttp.RequestCtx) error {
	limit, cursor, err := pageParams(rc)
	if err != nil {
		return err
	}
	status := string(rc.QueryArgs().Peek("status"))
	if status != "" && !slices.Contains(orderStatuses, status) {
		return &vayva.Error{Code: vayva.EINVALID, Message: "The request has invalid fields.",
			Fields: []vayva.FieldError{{Field: "status", Message: "must be one of " + strings.Join(orderStatuses, ", ")}}}
	}
	if a.orders == nil {
		return vayva.Errorf(vayva.EUNAVAILABLE, "Orders are not available on this node.")
	}
	orders, next, err := a.orders.ListOrders(ctx, tenantOf(ctx).StoreID, status, limit, cursor)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, mapList(orders, next, func(o *actors.Order) orderJSON { return orderView(o, false) }))
}

// merchantOrder returns the caller's store's order named in the path.
func (a *OrdersArea) merchantOrder(ctx context.Context, rc *fasthttp.RequestCtx) (*actors.Order, error) {
	if a.orders == nil {
		return nil, vayva.Errorf(vayva.EUNAVAILABLE, "Orders are not available on this node.")
	}
	id, _ := rc.UserValue("id").(string)
	if !vayva.HasIDPrefix(id, "ord") {
		return nil, vayva.Errorf(vayva.ENOTFOUND, "No order %q.", id)
	}
	return a.orders.StoreOrder(ctx, tenantOf(ctx).StoreID, id)
}

func (a *OrdersArea) getOrder(ctx context.Context, rc *fasthttp.RequestCtx) error {
	o, err := a.merchantOrder(ctx, rc)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, orderView(o, true))
}

// command sends cmd to the order of the path (after checking it is the
// caller's store's) and answers with the order as it now is.
func (a *OrdersArea) command(ctx context.Context, rc *fasthttp.RequestCtx, cmd func(commandID string) proto.Message) error {
	o, err := a.merchantOrder(ctx, rc)
	if err != nil {
		return err
	}
	if a.member == nil {
		return vayva.Errorf(vayva.EUNAVAILABLE, "This node runs no cluster member.")
	}
	if _, err := cluster.Request[*messages.Order](ctx, a.member, actors.OrderKind, o.ID, cmd(commandID(rc, "order"))); err != nil {
		return err
	}
	o, err = a.orders.StoreOrder(ctx, tenantOf(ctx).StoreID, o.ID)
	if err != nil {
		return err
	}
	return writeJSON(rc, fasthttp.StatusOK, orderView(o, true))
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

type refundRequest struct {
	Amount *int64 `json:"amount"`
	Reason string `json:"reason"`
}

// decodeOptionalJSON decodes a body that may be empty.
func decodeOptionalJSON(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	return decodeJSONBytes(body, v)
}

func (a *OrdersArea) cancelOrder(ctx context.Context, rc *fasthttp.RequestCtx) error {
	var req reasonRequest
	if err := decodeOptionalJSON(rc.PostBody(), &req); err != nil {
		return err
	}
	// Canceling a paid order refunds it: the actor refuses that to team
	// members who may not move money, whatever the order's state was here.
	t, forbidden := moneyRole(ctx)
	return a.command(ctx, rc, func(id string) proto.Message {
		return &messages.CancelOrder{CommandId: id, Reason: req.Reason, MayRefund: forbidden == nil, Audit: userAudit(ctx, t)}
	})
}

func (a *OrdersArea) refundOrder(ctx context.Context, rc *fasthttp.RequestCtx) error {
	// A refund moves the store's money, as a payout does.
	t, err := moneyRole(ctx)
	if err != nil {
		return err
	}
	var req refundRequest
	if err := decodeOptionalJSON(rc.PostBody(), &req); err != nil {
		return err
	}
	if req.Amount != nil && *req.Amount <= 0 {
		return &vayva.Error{Code: vayva.EINVALID, Message: "The request has invalid fields.",
			Fields: []vayva.FieldError{{Field: "amount", Message: "must be a positive amount in minor units; leave it out to refund everything"}}}
	}
	var amount int64
	if req.Amount != nil {
		amount = *req.Amount
	}
	return a.command(ctx, rc, func(id string) proto.Message {
		return &messages.RefundOrder{CommandId: id, Amount: amount, Reason: req.Reason, Audit: userAudit(ctx, t)}
	})
}

func (a *OrdersArea) fulfillOrder(ctx context.Context, rc *fasthttp.RequestCtx) error {
	if err := decodeOptionalJSON(rc.PostBody(), &struct{}{}); err != nil {
		return err
	}
	return a.command(ctx, rc, func(id string) proto.Message { return &messages.FulfillOrder{CommandId: id} })
}

// orderPage serves GET /storefront/{slug}/orders/{id}: the page a payment
// returns to and the emails link to. Without the order token it shows the
// order's number and status only; with it, what the customer bought.
func (a *OrdersArea) orderPage(ctx context.Context, rc *fasthttp.RequestCtx) error {
	slug, _ := rc.UserValue("slug").(string)
	id, _ := rc.UserValue("id").(string)
	if a.orders == nil {
		return vayva.Errorf(vayva.EUNAVAILABLE, "Orders are not available on this node.")
	}
	d := pageData{Title: "Your order", Page: "order"}
	if token := string(rc.QueryArgs().Peek("token")); token != "" {
		o, err := a.orders.CustomerOrder(ctx, slug, id, token)
		if err != nil {
			return writePageError(rc, d, err)
		}
		d.Order = orderPageView(o.Number, o.Status, o.StoreName)
		d.Order.Total = vayva.FormatMoney(o.Total, o.Currency)
		for _, l := range o.Lines {
			d.Order.Lines = append(d.Order.Lines, pageOrderLine{Title: l.Title + " · " + l.VariantTitle, Quantity: l.Quantity,
				Total: vayva.FormatMoney(l.Total(), o.Currency)})
		}
		return writePage(rc, fasthttp.StatusOK, d)
	}
	number, status, store, err := a.orders.OrderStatus(ctx, slug, id)
	if err != nil {
		return writePageError(rc, d, err)
	}
	d.Order = orderPageView(number, status, store)
	return writePage(rc, fasthttp.StatusOK, d)
}

// pageOrder is the order shown on its page.
type pageOrder struct {
	Number int64
	Status string
	Store  string
	Total  string
	Lines  []pageOrderLine
}

type pageOrderLine struct {
	Title    string
	Quantity int64
	Total    string
}

// orderStatusText says an order's status to its customer.
var orderStatusText = map[string]string{
	actors.OrderAwaitingPayment: "waiting for your payment",
	actors.OrderConfirmed:       "paid and confirmed",
	actors.OrderCompleted:       "complete",
	actors.OrderExpired:         "expired unpaid",
	actors.OrderCanceled:        "canceled",
}

func orderPageView(number int64, status, store string) *pageOrder {
	return &pageOrder{Number: number, Status: orderStatusText[status], Store: store}
}
