package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vayvahq/vayva"
)

// Kwik envelope status codes.
const (
	kwikOK           = 200
	kwikParamMissing = 100
	kwikInvalidKey   = 101
	kwikRefused      = 201
	kwikNotFound     = 404
)

// Kwik job status codes.
const (
	kwikJobUpcoming   = 0
	kwikJobStarted    = 1
	kwikJobEnded      = 2
	kwikJobFailed     = 3
	kwikJobUnassigned = 6
	kwikJobAccepted   = 7
	kwikJobCanceled   = 9
)

// The fake vendor account, rider and fares.
const (
	kwikVendorID      = 1201
	kwikUserID        = 8813
	kwikBaseFareKobo  = 100000 // NGN 1,000
	kwikPerKmKobo     = 15000  // NGN 150
	kwikServiceKobo   = 5000   // NGN 50
	sandboxRiderName  = "Sandbox Rider"
	sandboxRiderPhone = "+2348000000000"
)

// FailingKwikPhone is the drop-off phone number the fake Kwik refuses to
// book ("no rider for this route"), so flows can exercise booking
// failures.
const FailingKwikPhone = "+2340000000000"

// Normalized statuses a fake task moves through.
const (
	kwikStepRequested = "requested"
	kwikStepAssigned  = "assigned"
	kwikStepPickedUp  = "picked_up"
	kwikStepInTransit = "in_transit"
	kwikStepDelivered = "delivered"
	kwikStepFailed    = "failed"
	kwikStepCanceled  = "canceled"
)

// kwikSteps are the statuses a task advances through, with the pickup and
// delivery job status codes of each.
var kwikSteps = []struct {
	name             string
	pickup, delivery int
}{
	{kwikStepRequested, kwikJobUnassigned, kwikJobUnassigned},
	{kwikStepAssigned, kwikJobAccepted, kwikJobUpcoming},
	{kwikStepPickedUp, kwikJobEnded, kwikJobUpcoming},
	{kwikStepInTransit, kwikJobEnded, kwikJobStarted},
	{kwikStepDelivered, kwikJobEnded, kwikJobEnded},
}

// KwikTask is a delivery task booked with the fake Kwik.
type KwikTask struct {
	JobID         int64     `json:"job_id"`
	PickupJobID   int64     `json:"pickup_job_id"`
	UniqueOrderID string    `json:"unique_order_id"`
	Status        string    `json:"status"`
	PickupCode    int       `json:"pickup_job_status"`
	DeliveryCode  int       `json:"job_status"`
	Amount        string    `json:"amount"`
	PickupAddress string    `json:"pickup_address"`
	Address       string    `json:"address"`
	TrackingLink  string    `json:"tracking_link"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`

	// seen is set when a client read the task in its current status.
	seen bool
}

// kwikFake is the fake Kwik vendor API.
type kwikFake struct {
	cfg    Config
	runner *webhookLog // owns the goroutines that advance tasks

	mu     sync.Mutex // guards everything below
	nextID int64
	tokens *store[time.Time] // access token → expiry
	tasks  *store[*KwikTask] // by delivery job id
}

func newKwikFake(cfg Config, runner *webhookLog) *kwikFake {
	return &kwikFake{cfg: cfg, runner: runner, nextID: 41000, tokens: newStore[time.Time](cfg.MaxRecords), tasks: newStore[*KwikTask](cfg.MaxRecords)}
}

func (k *kwikFake) routes(mux *routeMux) {
	api := KwikAPIPrefix
	mux.HandleFunc("POST "+api+"/vendor_login", k.handleLogin)
	mux.HandleFunc("POST "+api+"/send_payment_for_task", k.handleQuote)
	mux.HandleFunc("POST "+api+"/create_task_via_vendor", k.handleCreate)
	mux.HandleFunc("POST "+api+"/cancel_vendor_task", k.handleCancel)
	mux.HandleFunc("GET "+api+"/view_task_by_relationship_id", k.handleView)
	mux.HandleFunc("POST "+api+"/tasks/{job_id}/advance", k.handleAdvance)
	mux.HandleFunc("GET "+api+"/tasks", k.handleList)
}

// KwikTasks returns the tasks booked with the fake Kwik, newest first;
// when uniqueOrderID is set, only those booked under it.
func (s *Sandbox) KwikTasks(uniqueOrderID string) []KwikTask {
	return s.kwik.list(uniqueOrderID, s.cfg.MaxRecords)
}

// ExpireKwikTokens invalidates every access token the fake Kwik issued, so
// clients must log in again.
func (s *Sandbox) ExpireKwikTokens() {
	s.kwik.mu.Lock()
	defer s.kwik.mu.Unlock()
	s.kwik.tokens = newStore[time.Time](s.cfg.MaxRecords)
}

func (k *kwikFake) list(uniqueOrderID string, limit int) []KwikTask {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := []KwikTask{}
	for _, t := range k.tasks.newest(limit, func(t *KwikTask) bool { return uniqueOrderID == "" || t.UniqueOrderID == uniqueOrderID }) {
		out = append(out, *t)
	}
	return out
}

func kwikReply(w http.ResponseWriter, status int, msg string, data any) {
	if data == nil {
		data = map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": status, "message": msg, "data": data})
}

func (k *kwikFake) handleLogin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		DomainName string          `json:"domain_name"`
		Email      string          `json:"email"`
		Password   string          `json:"password"`
		APILogin   json.RawMessage `json:"api_login"`
	}
	if err := readJSON(w, r, &in); err != nil {
		kwikReply(w, kwikParamMissing, "PARAMETER_MISSING: "+err.Error(), nil)
		return
	}
	if in.DomainName == "" || in.Email == "" || in.Password == "" {
		kwikReply(w, kwikParamMissing, "PARAMETER_MISSING: domain_name, email and password are required", nil)
		return
	}
	if in.DomainName != k.cfg.KwikDomainName || !strings.EqualFold(in.Email, k.cfg.KwikEmail) ||
		!hmac.Equal([]byte(in.Password), []byte(k.cfg.KwikPassword)) {
		kwikReply(w, kwikRefused, "Invalid email or password", nil)
		return
	}
	token := randomHex(24)
	k.mu.Lock()
	k.tokens.put(token, k.cfg.Now().Add(k.cfg.KwikTokenTTL))
	k.mu.Unlock()
	kwikReply(w, kwikOK, "Logged in successfully", map[string]any{
		"access_token": token,
		"vendor_details": map[string]any{
			"vendor_id": kwikVendorID, "user_id": kwikUserID, "card_id": 0, "email": in.Email,
			"first_name": "Sandbox", "last_name": "Vendor", "company_name": "Vayva Sandbox",
		},
	})
}

// authorized reports whether token is live, answering 101 if not.
func (k *kwikFake) authorized(w http.ResponseWriter, token string) bool {
	k.mu.Lock()
	exp, ok := k.tokens.get(token)
	k.mu.Unlock()
	if token == "" || !ok || !k.cfg.Now().Before(exp) {
		kwikReply(w, kwikInvalidKey, "INVALID_KEY: access token expired or invalid. Log in again.", nil)
		return false
	}
	return true
}

type kwikStop struct {
	Address   string  `json:"address"`
	Name      string  `json:"name"`
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Time      string  `json:"time"`
	Phone     string  `json:"phone"`
	Email     string  `json:"email"`
}

type kwikTaskRequest struct {
	AccessToken   string          `json:"access_token"`
	DomainName    string          `json:"domain_name"`
	VendorID      json.RawMessage `json:"vendor_id"`
	Pickups       []kwikStop      `json:"pickups"`
	Deliveries    []kwikStop      `json:"deliveries"`
	PaymentMethod json.RawMessage `json:"payment_method"`
	UniqueOrderID string          `json:"unique_order_id"`
	Amount        json.RawMessage `json:"amount"`
	JobID         json.RawMessage `json:"job_id"`
	JobStatus     json.RawMessage `json:"job_status"`
}

// read decodes and authenticates a task request; it answers and returns
// false when the request is unusable.
func (k *kwikFake) read(w http.ResponseWriter, r *http.Request, in *kwikTaskRequest) bool {
	if err := readJSON(w, r, in); err != nil {
		kwikReply(w, kwikParamMissing, "PARAMETER_MISSING: "+err.Error(), nil)
		return false
	}
	if !k.authorized(w, in.AccessToken) {
		return false
	}
	if in.DomainName != k.cfg.KwikDomainName {
		kwikReply(w, kwikParamMissing, "PARAMETER_MISSING: domain_name", nil)
		return false
	}
	if strings.Trim(string(in.VendorID), `" `) != strconv.Itoa(kwikVendorID) {
		kwikReply(w, kwikParamMissing, "PARAMETER_MISSING: vendor_id", nil)
		return false
	}
	return true
}

func (in *kwikTaskRequest) stopsProblem() string {
	if len(in.Pickups) != 1 || len(in.Deliveries) != 1 {
		return "one pickup and one delivery are required"
	}
	for _, s := range []kwikStop{in.Pickups[0], in.Deliveries[0]} {
		if s.Address == "" || s.Phone == "" {
			return "address and phone are required for every stop"
		}
		if s.Latitude < -90 || s.Latitude > 90 || s.Longitude < -180 || s.Longitude > 180 || (s.Latitude == 0 && s.Longitude == 0) {
			return "latitude and longitude are invalid"
		}
		if _, err := time.Parse("2006-01-02 15:04:05", s.Time); err != nil {
			return "time must be YYYY-MM-DD HH:mm:ss"
		}
	}
	return ""
}

// price is the fake fare: a base fare plus a rate per kilometre of
// great-circle distance, in kobo.
func price(a, b kwikStop) int64 {
	const earthKm = 6371.0
	rad := math.Pi / 180
	dLat, dLon := (b.Latitude-a.Latitude)*rad, (b.Longitude-a.Longitude)*rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(a.Latitude*rad)*math.Cos(b.Latitude*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	km := 2 * earthKm * math.Asin(math.Sqrt(h))
	return kwikBaseFareKobo + int64(math.Round(km*10))*kwikPerKmKobo/10
}

// naira renders kobo as a JSON number of naira with two decimals.
func naira(kobo int64) json.RawMessage {
	return json.RawMessage(fmt.Sprintf("%d.%02d", kobo/100, kobo%100))
}

func (k *kwikFake) handleQuote(w http.ResponseWriter, r *http.Request) {
	var in kwikTaskRequest
	if !k.read(w, r, &in) {
		return
	}
	if p := in.stopsProblem(); p != "" {
		kwikReply(w, kwikParamMissing, "PARAMETER_MISSING: "+p, nil)
		return
	}
	fare := price(in.Pickups[0], in.Deliveries[0])
	kwikReply(w, kwikOK, "Successful", map[string]any{
		"per_task_cost": naira(fare), "total_service_charge": naira(kwikServiceKobo), "total_no_of_tasks": 1,
		"insurance_amount": 0, "currency": map[string]any{"code": "NGN", "symbol": "₦"},
		"pickups": in.Pickups, "deliveries": in.Deliveries,
	})
}

func (k *kwikFake) handleCreate(w http.ResponseWriter, r *http.Request) {
	var in kwikTaskRequest
	if !k.read(w, r, &in) {
		return
	}
	if p := in.stopsProblem(); p != "" {
		kwikReply(w, kwikParamMissing, "PARAMETER_MISSING: "+p, nil)
		return
	}
	amt := strings.Trim(string(bytes.TrimSpace(in.Amount)), `"`)
	if v, err := strconv.ParseFloat(amt, 64); err != nil || !(v > 0) || math.IsInf(v, 0) {
		kwikReply(w, kwikParamMissing, "PARAMETER_MISSING: amount", nil)
		return
	}
	if len(in.UniqueOrderID) > 64 {
		kwikReply(w, kwikRefused, "unique_order_id is too long", nil)
		return
	}
	if in.Deliveries[0].Phone == FailingKwikPhone {
		kwikReply(w, kwikRefused, "No rider is available for this route", nil)
		return
	}
	now := k.cfg.Now().UTC()
	k.mu.Lock()
	k.nextID += 2
	t := &KwikTask{
		PickupJobID: k.nextID - 1, JobID: k.nextID, UniqueOrderID: in.UniqueOrderID, Status: kwikStepRequested,
		PickupCode: kwikJobUnassigned, DeliveryCode: kwikJobUnassigned, Amount: amt,
		PickupAddress: in.Pickups[0].Address, Address: in.Deliveries[0].Address, CreatedAt: now, UpdatedAt: now,
	}
	if t.UniqueOrderID == "" {
		t.UniqueOrderID = "KWK" + randomHex(5)
	}
	t.TrackingLink = k.cfg.PublicURL + KwikAPIPrefix + "/tasks?unique_order_id=" + t.UniqueOrderID
	t.seen = true // the answer shows it
	k.tasks.put(strconv.FormatInt(t.JobID, 10), t)
	k.advanceByItself(t)
	data := map[string]any{
		"unique_order_id": t.UniqueOrderID, "job_id": t.JobID, "pickup_job_id": t.PickupJobID,
		"job_status": t.DeliveryCode, "pickup_job_status": t.PickupCode, "tracking_link": t.TrackingLink,
		"per_task_cost": amt, "credits_deducted": 0,
	}
	k.mu.Unlock()
	kwikReply(w, kwikOK, "Task created successfully", data)
}

// jobs renders a task as view_task_by_relationship_id lists it: its pickup
// job and its delivery job. k.mu is held.
func (t *KwikTask) jobs() []map[string]any {
	rider := t.Status != kwikStepRequested && t.Status != kwikStepCanceled
	job := func(id int64, typ, code int, address string) map[string]any {
		m := map[string]any{
			"job_id": id, "job_type": typ, "job_status": code, "unique_order_id": t.UniqueOrderID,
			"job_address": address, "tracking_link": t.TrackingLink, "fleet_name": "", "fleet_phone": "",
			"creation_datetime": t.CreatedAt.Format("2006-01-02 15:04:05"),
		}
		if rider {
			m["fleet_name"], m["fleet_phone"] = sandboxRiderName, sandboxRiderPhone
		}
		return m
	}
	return []map[string]any{
		job(t.PickupJobID, 0, t.PickupCode, t.PickupAddress),
		job(t.JobID, 1, t.DeliveryCode, t.Address),
	}
}

func (k *kwikFake) handleView(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !k.authorized(w, q.Get("access_token")) {
		return
	}
	id := q.Get("unique_order_id")
	if id == "" {
		kwikReply(w, kwikParamMissing, "PARAMETER_MISSING: unique_order_id", nil)
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	found := k.tasks.newest(1, func(t *KwikTask) bool { return t.UniqueOrderID == id })
	if len(found) == 0 {
		kwikReply(w, kwikNotFound, "No task found", []any{})
		return
	}
	found[0].seen = true
	kwikReply(w, kwikOK, "Successful", found[0].jobs())
}

// advanceByItself moves t through its statuses to delivered, as riders
// would: each status lasts at least KwikStepDelay (times RetryScale) and
// until a client has read it once, so a client that polls sees every
// status. A task canceled, failed or advanced by hand meanwhile is left
// where it is. k.mu is held.
func (k *kwikFake) advanceByItself(t *KwikTask) {
	delay := time.Duration(float64(k.cfg.KwikStepDelay) * k.cfg.RetryScale)
	k.runner.spawn(func(ctx context.Context) {
		tick := time.NewTicker(max(delay, time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			k.mu.Lock()
			next := ""
			for i, s := range kwikSteps {
				if s.name == t.Status && i+1 < len(kwikSteps) {
					next = kwikSteps[i+1].name
				}
			}
			if next != "" && t.seen {
				k.setLocked(t, next)
			}
			k.mu.Unlock()
			if next == "" {
				return
			}
		}
	})
}

func (k *kwikFake) handleCancel(w http.ResponseWriter, r *http.Request) {
	var in kwikTaskRequest
	if !k.read(w, r, &in) {
		return
	}
	if status := strings.Trim(string(in.JobStatus), `" `); status != strconv.Itoa(kwikJobCanceled) {
		kwikReply(w, kwikParamMissing, "PARAMETER_MISSING: job_status must be 9", nil)
		return
	}
	jobID := strings.Trim(string(in.JobID), `" `)
	k.mu.Lock()
	defer k.mu.Unlock()
	t := k.findLocked(jobID)
	switch {
	case t == nil:
		kwikReply(w, kwikNotFound, "Task not found", nil)
	case t.Status == kwikStepDelivered || t.Status == kwikStepFailed:
		kwikReply(w, kwikRefused, "Task is already completed and cannot be cancelled", nil)
	default:
		k.setLocked(t, kwikStepCanceled)
		kwikReply(w, kwikOK, "Task cancelled successfully", map[string]any{"job_id": t.JobID, "job_status": t.DeliveryCode})
	}
}

// findLocked finds a task by its delivery or pickup job id.
func (k *kwikFake) findLocked(jobID string) *KwikTask {
	if t, ok := k.tasks.get(jobID); ok {
		return t
	}
	for _, t := range k.tasks.items {
		if strconv.FormatInt(t.PickupJobID, 10) == jobID {
			return t
		}
	}
	return nil
}

func (k *kwikFake) setLocked(t *KwikTask, step string) {
	switch step {
	case kwikStepFailed:
		t.DeliveryCode = kwikJobFailed
		if t.PickupCode != kwikJobEnded {
			t.PickupCode = kwikJobFailed
		}
	case kwikStepCanceled:
		t.PickupCode, t.DeliveryCode = kwikJobCanceled, kwikJobCanceled
	default:
		for _, s := range kwikSteps {
			if s.name == step {
				t.PickupCode, t.DeliveryCode = s.pickup, s.delivery
			}
		}
	}
	t.Status, t.seen = step, false
	t.UpdatedAt = k.cfg.Now().UTC()
}

// handleAdvance moves a task to its next status, or to the one named in
// the body ({"status": "failed"}), as a rider would.
func (k *kwikFake) handleAdvance(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Status string `json:"status"`
	}
	if !readControlJSON(w, r, &in, true) {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	t := k.findLocked(r.PathValue("job_id"))
	if t == nil {
		writeProblem(w, vayva.ENOTFOUND, "No sandbox Kwik task has this job id.")
		return
	}
	if t.Status == kwikStepDelivered || t.Status == kwikStepFailed || t.Status == kwikStepCanceled {
		writeProblem(w, vayva.ECONFLICT, "The task is already "+t.Status+".")
		return
	}
	next := in.Status
	if next == "" {
		for i, s := range kwikSteps {
			if s.name == t.Status && i+1 < len(kwikSteps) {
				next = kwikSteps[i+1].name
			}
		}
	}
	valid := next == kwikStepFailed || next == kwikStepCanceled
	for _, s := range kwikSteps {
		valid = valid || s.name == next
	}
	if !valid {
		invalidField(w, "status", "is not a Kwik task status")
		return
	}
	k.setLocked(t, next)
	writeJSON(w, http.StatusOK, *t)
}

func (k *kwikFake) handleList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"data":        k.list(r.URL.Query().Get("unique_order_id"), limitParam(r, k.cfg.MaxRecords)),
		"next_cursor": nil,
	})
}
