package kwik

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/integrations/internal/providerhttp"
)

// Status is a delivery's normalized status.
type Status string

// Normalized delivery statuses.
const (
	StatusRequested Status = "requested"
	StatusAssigned  Status = "assigned"
	StatusPickedUp  Status = "picked_up"
	StatusInTransit Status = "in_transit"
	StatusDelivered Status = "delivered"
	StatusFailed    Status = "failed"
	StatusCanceled  Status = "canceled"
)

// Kwik's job status codes (Tookan's).
const (
	JobUpcoming   = 0  // assigned to a rider
	JobStarted    = 1  // the rider is on the way
	JobEnded      = 2  // completed
	JobFailed     = 3  // completed unsuccessfully
	JobArrived    = 4  // the rider has reached the stop
	JobUnassigned = 6  // no rider yet
	JobAccepted   = 7  // the rider accepted
	JobDeclined   = 8  // the rider declined; Kwik reassigns
	JobCanceled   = 9  // canceled
	JobDeleted    = 10 // deleted
)

// Job types of a task.
const (
	jobTypePickup   = 0
	jobTypeDelivery = 1
)

// NormalizeStatus maps the job status codes of a delivery's pickup task
// and delivery task to one normalized status. Pass a negative pickup when
// the delivery has no separate pickup task.
func NormalizeStatus(pickup, delivery int) Status {
	switch {
	case isCanceled(delivery) || isCanceled(pickup):
		return StatusCanceled
	case delivery == JobEnded:
		return StatusDelivered
	case delivery == JobFailed || pickup == JobFailed:
		return StatusFailed
	case delivery == JobStarted || delivery == JobArrived:
		return StatusInTransit
	case pickup == JobEnded:
		return StatusPickedUp
	case isAssigned(pickup) || isAssigned(delivery):
		return StatusAssigned
	default:
		return StatusRequested
	}
}

func isCanceled(code int) bool { return code == JobCanceled || code == JobDeleted }

func isAssigned(code int) bool {
	return code == JobUpcoming || code == JobAccepted || code == JobStarted || code == JobArrived
}

// Stop is a pickup or drop-off point.
type Stop struct {
	Address   string
	Name      string
	Phone     string
	Email     string
	Latitude  float64
	Longitude float64
}

// QuoteRequest prices a delivery from Pickup to Dropoff.
type QuoteRequest struct {
	Pickup  Stop
	Dropoff Stop
	// At is when the rider should pick up. Defaults to now.
	At time.Time
	// VehicleID is Kwik's vehicle class; zero lets Kwik choose.
	VehicleID int
}

// Quote is Kwik's price for a delivery.
type Quote struct {
	// Amount is the price in kobo.
	Amount   int64
	Currency string
	// ServiceCharge is Kwik's total_service_charge in kobo, sent back
	// when booking.
	ServiceCharge int64
	Tasks         int
}

// BookRequest books a quoted delivery.
type BookRequest struct {
	// DeliveryID is our delivery id, sent as unique_order_id; it makes
	// booking idempotent. Required.
	DeliveryID string
	// Request is the route that was quoted.
	Request QuoteRequest
	// Quote is Kwik's answer to Request.
	Quote Quote
}

// Task is a booked delivery as Kwik reports it.
type Task struct {
	DeliveryID  string
	JobID       string
	PickupJobID string
	Status      Status
	// PickupCode and DeliveryCode are Kwik's job status codes verbatim, -1
	// when the task is absent.
	PickupCode   int
	DeliveryCode int
	TrackingURL  string
	RiderName    string
	RiderPhone   string
}

type stopWire struct {
	Address          string  `json:"address"`
	Name             string  `json:"name"`
	Latitude         float64 `json:"latitude"`
	Longitude        float64 `json:"longitude"`
	Time             string  `json:"time"`
	Phone            string  `json:"phone"`
	Email            string  `json:"email,omitempty"`
	HasReturnTask    bool    `json:"has_return_task"`
	IsPackageInsured int     `json:"is_package_insured"`
}

func (c *Client) stops(r QuoteRequest) ([]stopWire, []stopWire) {
	at := r.At
	if at.IsZero() {
		at = time.Now()
	}
	ts := at.In(c.zone).Format("2006-01-02 15:04:05")
	w := func(s Stop) []stopWire {
		return []stopWire{{Address: s.Address, Name: s.Name, Latitude: s.Latitude, Longitude: s.Longitude, Time: ts, Phone: s.Phone, Email: s.Email}}
	}
	return w(r.Pickup), w(r.Dropoff)
}

func (c *Client) taskParams(r QuoteRequest) map[string]any {
	pickups, deliveries := c.stops(r)
	p := map[string]any{
		"custom_field_template":        "pricing-template",
		"pickup_custom_field_template": "pricing-template",
		"form_id":                      2,
		"is_multiple_tasks":            1,
		"has_pickup":                   1,
		"has_delivery":                 1,
		"auto_assignment":              0,
		"layout_type":                  0,
		"timezone":                     fmt.Sprintf("%+d", c.cfg.TimezoneOffset),
		"payment_method":               strconv.Itoa(c.cfg.PaymentMethod),
		"pickups":                      pickups,
		"deliveries":                   deliveries,
	}
	if r.VehicleID != 0 {
		p["vehicle_id"] = r.VehicleID
	}
	return p
}

func checkStops(v *vayva.Validation, r QuoteRequest) {
	for name, s := range map[string]Stop{"pickup": r.Pickup, "dropoff": r.Dropoff} {
		v.Check(s.Address != "", name+".address", "is required")
		v.Check(s.Phone != "", name+".phone", "is required")
		v.Check(s.Latitude >= -90 && s.Latitude <= 90 && s.Longitude >= -180 && s.Longitude <= 180 &&
			!(s.Latitude == 0 && s.Longitude == 0), name, "needs valid coordinates")
	}
}

// Quote asks Kwik to price a delivery (send_payment_for_task).
func (c *Client) Quote(ctx context.Context, r QuoteRequest) (Quote, error) {
	var v vayva.Validation
	checkStops(&v, r)
	if err := v.Err(); err != nil {
		return Quote{}, fmt.Errorf("kwik: quote: %w", err)
	}
	var out struct {
		PerTaskCost        json.RawMessage `json:"per_task_cost"`
		TotalServiceCharge json.RawMessage `json:"total_service_charge"`
		TotalNoOfTasks     flexID          `json:"total_no_of_tasks"`
		Currency           json.RawMessage `json:"currency"`
	}
	if err := c.call(ctx, http.MethodPost, "/send_payment_for_task", c.taskParams(r), &out, retrySafe); err != nil {
		return Quote{}, fmt.Errorf("kwik: quote: %w", err)
	}
	amount, err := parseNaira(out.PerTaskCost)
	if err != nil || amount <= 0 {
		return Quote{}, fmt.Errorf("kwik: quote: %w", &Error{StatusCode: http.StatusOK, Status: codeOK, Message: "answer without a usable per_task_cost", Err: err})
	}
	charge, _ := parseNaira(out.TotalServiceCharge)
	return Quote{Amount: amount, Currency: currencyOf(out.Currency), ServiceCharge: charge, Tasks: int(out.TotalNoOfTasks.int())}, nil
}

// Book creates the delivery task for a quote (create_task_via_vendor),
// unless Kwik already has a task for r.DeliveryID, in which case that task
// is returned. The lookup runs before every attempt, so a booking whose
// answer was lost is found instead of being made twice.
func (c *Client) Book(ctx context.Context, r BookRequest) (Task, error) {
	var v vayva.Validation
	v.Check(r.DeliveryID != "" && len(r.DeliveryID) <= 64, "delivery_id", "is required (at most 64 characters)")
	v.Check(r.Quote.Amount > 0, "quote", "is required")
	checkStops(&v, r.Request)
	if err := v.Err(); err != nil {
		return Task{}, fmt.Errorf("kwik: book: %w", err)
	}
	for attempt := 0; ; attempt++ {
		existing, err := c.TaskByDeliveryID(ctx, r.DeliveryID)
		if err == nil {
			return existing, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Task{}, fmt.Errorf("kwik: book: %w", err)
		}
		p := c.taskParams(r.Request)
		p["unique_order_id"] = r.DeliveryID
		p["amount"] = formatNaira(r.Quote.Amount)
		p["total_service_charge"] = formatNaira(r.Quote.ServiceCharge)
		p["total_no_of_tasks"] = max(r.Quote.Tasks, 1)
		p["insurance_amount"] = 0
		p["pickup_delivery_relationship"] = 0
		p["team_id"] = ""
		p["fleet_id"] = ""
		var out taskWire
		err = c.call(ctx, http.MethodPost, "/create_task_via_vendor", p, &out, retryUnsafe)
		if err == nil {
			t := out.task()
			if t.DeliveryID == "" {
				t.DeliveryID = r.DeliveryID
			}
			return t, nil
		}
		// The booking may or may not have happened; look it up and try
		// again rather than booking blind.
		if IsPermanent(err) || attempt >= c.api.MaxRetries || ctx.Err() != nil {
			return Task{}, fmt.Errorf("kwik: book: %w", err)
		}
		if err := providerhttp.Sleep(ctx, c.api.Backoff(attempt)); err != nil {
			return Task{}, fmt.Errorf("kwik: book: %w", errors.Join(err, ctx.Err()))
		}
	}
}

// TaskByDeliveryID returns the task booked for our delivery id
// (view_task_by_relationship_id), or an error matching ErrNotFound.
func (c *Client) TaskByDeliveryID(ctx context.Context, deliveryID string) (Task, error) {
	if deliveryID == "" {
		return Task{}, fmt.Errorf("kwik: view task: %w", vayva.Errorf(vayva.EINVALID, "delivery id is required"))
	}
	var raw json.RawMessage
	err := c.call(ctx, http.MethodGet, "/view_task_by_relationship_id", map[string]any{"unique_order_id": deliveryID}, &raw, retrySafe)
	var e *Error
	if errors.As(err, &e) && (e.Status == codeNotFound || e.StatusCode == http.StatusNotFound) {
		return Task{}, fmt.Errorf("kwik: view task %s: %w", deliveryID, errors.Join(ErrNotFound, vayva.Errorf(vayva.ENOTFOUND, "no Kwik task for delivery %s", deliveryID)))
	}
	if err != nil {
		return Task{}, fmt.Errorf("kwik: view task: %w", err)
	}
	return parseTasks(deliveryID, raw)
}

// parseTasks reads the data of a view_task_by_relationship_id answer: the
// delivery's jobs (its pickup job and its delivery job), as a list or a
// single object.
func parseTasks(deliveryID string, raw json.RawMessage) (Task, error) {
	var jobs []jobWire
	if raw = bytes.TrimSpace(raw); len(raw) > 0 && raw[0] == '{' {
		var one jobWire
		if err := json.Unmarshal(raw, &one); err != nil {
			return Task{}, fmt.Errorf("kwik: view task: %w", &Error{StatusCode: http.StatusOK, Status: codeOK, Message: "undecodable task", Err: err})
		}
		jobs = []jobWire{one}
	} else if len(raw) > 0 {
		if err := json.Unmarshal(raw, &jobs); err != nil {
			return Task{}, fmt.Errorf("kwik: view task: %w", &Error{StatusCode: http.StatusOK, Status: codeOK, Message: "undecodable tasks", Err: err})
		}
	}
	if len(jobs) == 0 {
		return Task{}, fmt.Errorf("kwik: view task %s: %w", deliveryID, errors.Join(ErrNotFound, vayva.Errorf(vayva.ENOTFOUND, "no Kwik task for delivery %s", deliveryID)))
	}
	t := Task{DeliveryID: deliveryID, PickupCode: -1, DeliveryCode: -1}
	for _, j := range jobs {
		if j.JobType.int() == jobTypePickup && len(jobs) > 1 {
			t.PickupJobID, t.PickupCode = j.JobID.String(), int(j.JobStatus.int())
			continue
		}
		t.JobID, t.DeliveryCode = j.JobID.String(), int(j.JobStatus.int())
		t.TrackingURL, t.RiderName, t.RiderPhone = j.TrackingLink, j.FleetName, j.FleetPhone
	}
	if t.JobID == "" {
		return Task{}, fmt.Errorf("kwik: view task: %w", &Error{StatusCode: http.StatusOK, Status: codeOK, Message: "answer without a delivery task"})
	}
	t.Status = NormalizeStatus(t.PickupCode, t.DeliveryCode)
	return t, nil
}

// Cancel cancels a booked task by its job id (cancel_vendor_task). Cancelling
// a canceled task again is harmless, so calls are retried.
func (c *Client) Cancel(ctx context.Context, jobID string) error {
	if jobID == "" {
		return fmt.Errorf("kwik: cancel: %w", vayva.Errorf(vayva.EINVALID, "job id is required"))
	}
	p := map[string]any{"job_id": jobID, "job_status": JobCanceled}
	if err := c.call(ctx, http.MethodPost, "/cancel_vendor_task", p, nil, retrySafe); err != nil {
		return fmt.Errorf("kwik: cancel: %w", err)
	}
	return nil
}

// taskWire is the answer to create_task_via_vendor.
type taskWire struct {
	UniqueOrderID string `json:"unique_order_id"`
	JobID         flexID `json:"job_id"`
	PickupJobID   flexID `json:"pickup_job_id"`
	JobStatus     flexID `json:"job_status"`
	PickupStatus  flexID `json:"pickup_job_status"`
	TrackingLink  string `json:"tracking_link"`
}

func (w taskWire) task() Task {
	code, pickup := int(w.JobStatus.int()), -1
	if w.PickupJobID != "" && w.PickupStatus != "" {
		pickup = int(w.PickupStatus.int())
	}
	return Task{
		DeliveryID: w.UniqueOrderID, JobID: w.JobID.String(), PickupJobID: w.PickupJobID.String(),
		PickupCode: pickup, DeliveryCode: code, Status: NormalizeStatus(pickup, code), TrackingURL: w.TrackingLink,
	}
}

// jobWire is one task of view_task_by_relationship_id.
type jobWire struct {
	JobID        flexID `json:"job_id"`
	JobType      flexID `json:"job_type"`
	JobStatus    flexID `json:"job_status"`
	TrackingLink string `json:"tracking_link"`
	FleetName    string `json:"fleet_name"`
	FleetPhone   string `json:"fleet_phone"`
}

// flexID is an identifier or small integer Kwik sends as a number or a
// string.
type flexID string

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*f = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexID(s)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*f = flexID(n.String())
	default:
		return fmt.Errorf("expected an id, got %.20q", b)
	}
	return nil
}

// String returns the id as sent.
func (f flexID) String() string { return string(f) }

func (f flexID) int() int64 {
	n, err := strconv.ParseInt(string(f), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// maxNaira bounds the amounts parseNaira accepts, far above any delivery
// fee, so kobo arithmetic cannot overflow.
const maxNaira = 1_000_000_000_000_000

// parseNaira reads an amount in naira (a JSON number or numeric string,
// with at most two decimals kept) and returns it in kobo, without going
// through floating point.
func parseNaira(raw json.RawMessage) (int64, error) {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	}
	if s == "" || s == "null" {
		return 0, errors.New("no amount")
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || strings.ContainsAny(whole, "+-eE") {
		return 0, fmt.Errorf("bad amount %.30q", s)
	}
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || n > maxNaira {
		return 0, fmt.Errorf("bad amount %.30q", s)
	}
	for _, c := range frac {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad amount %.30q", s)
		}
	}
	frac += "000"
	kobo, _ := strconv.ParseInt(frac[:2], 10, 64)
	if frac[2] >= '5' { // round half up on the third decimal
		kobo++
	}
	if total := n*100 + kobo; total <= maxNaira*100 {
		return total, nil
	}
	return 0, fmt.Errorf("amount %.30q out of range", s)
}

// formatNaira writes kobo as a naira amount with two decimals.
func formatNaira(kobo int64) string {
	return fmt.Sprintf("%d.%02d", kobo/100, kobo%100)
}

// currencyOf reads Kwik's currency, sent as a code or an object with a
// code; Kwik operates in Nigeria, so it defaults to NGN.
func currencyOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil && len(s) == 3 {
		return strings.ToUpper(s)
	}
	var o struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(raw, &o) == nil && len(o.Code) == 3 {
		return strings.ToUpper(o.Code)
	}
	return "NGN"
}
