package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vayvahq/vayva"
	"github.com/vayvahq/vayva/actors"
	"github.com/vayvahq/vayva/cluster"
	"github.com/vayvahq/vayva/integrations/kwik"
	"github.com/vayvahq/vayva/messages"
	"github.com/vayvahq/vayva/worker"
)

// kwikDeliveries is the delivery provider of the order actor (quotes,
// tracking) and of the delivery worker (booking, canceling) over the Kwik
// client.
type kwikDeliveries struct{ kc *kwik.Client }

var (
	_ actors.DeliveryGateway  = kwikDeliveries{}
	_ worker.DeliveryProvider = kwikDeliveries{}
	_ worker.DeliveryOrders   = orderCommands{}
)

func checkProvider(provider string) error {
	if provider != actors.ProviderKwik {
		return vayva.Errorf(vayva.EINVALID, "No delivery provider %q.", provider)
	}
	return nil
}

func kwikStop(s actors.DeliveryStop) kwik.Stop {
	return kwik.Stop{Address: s.Address, Name: s.Name, Phone: s.Phone, Email: s.Email, Latitude: s.Latitude, Longitude: s.Longitude}
}

// deliveryUpdate is a Kwik task as the order records it: Kwik's requested
// and assigned are booked; its job status codes are kept verbatim.
func deliveryUpdate(t kwik.Task) actors.DeliveryUpdate {
	status := string(t.Status)
	if t.Status == kwik.StatusRequested || t.Status == kwik.StatusAssigned {
		status = actors.DeliveryBooked
	}
	return actors.DeliveryUpdate{
		Status: status, ProviderReference: t.JobID, TrackingURL: t.TrackingURL,
		ProviderStatus: fmt.Sprintf("pickup_job_status=%d job_status=%d", t.PickupCode, t.DeliveryCode),
	}
}

func (k kwikDeliveries) Quote(ctx context.Context, provider string, pickup, dropoff actors.DeliveryStop) (int64, string, error) {
	if err := checkProvider(provider); err != nil {
		return 0, "", err
	}
	q, err := k.kc.Quote(ctx, kwik.QuoteRequest{Pickup: kwikStop(pickup), Dropoff: kwikStop(dropoff)})
	if err != nil {
		return 0, "", err
	}
	return q.Amount, q.Currency, nil
}

func (k kwikDeliveries) Track(ctx context.Context, provider, id string) (actors.DeliveryUpdate, error) {
	if err := checkProvider(provider); err != nil {
		return actors.DeliveryUpdate{}, err
	}
	t, err := k.kc.TaskByDeliveryID(ctx, id)
	if err != nil {
		return actors.DeliveryUpdate{}, err
	}
	return deliveryUpdate(t), nil
}

// Book books the job's delivery: a task Kwik already has under the
// delivery id is the booking; otherwise the route is quoted and booked
// (the client looks the id up again before each attempt).
func (k kwikDeliveries) Book(ctx context.Context, j actors.DeliveryJob) (actors.DeliveryUpdate, error) {
	if err := checkProvider(j.Provider); err != nil {
		return actors.DeliveryUpdate{}, err
	}
	if t, err := k.kc.TaskByDeliveryID(ctx, j.DeliveryID); err == nil {
		return deliveryUpdate(t), nil
	} else if !errors.Is(err, kwik.ErrNotFound) {
		return actors.DeliveryUpdate{}, err
	}
	req := kwik.QuoteRequest{Pickup: kwikStop(j.Pickup), Dropoff: kwikStop(j.Dropoff)}
	q, err := k.kc.Quote(ctx, req)
	if err != nil {
		return actors.DeliveryUpdate{}, err
	}
	t, err := k.kc.Book(ctx, kwik.BookRequest{DeliveryID: j.DeliveryID, Request: req, Quote: q})
	if err != nil {
		return actors.DeliveryUpdate{}, err
	}
	return deliveryUpdate(t), nil
}

// Cancel cancels the job's task; a delivery Kwik never booked has nothing
// to cancel.
func (k kwikDeliveries) Cancel(ctx context.Context, j actors.DeliveryJob) error {
	if err := checkProvider(j.Provider); err != nil {
		return err
	}
	jobID := j.ProviderReference
	if jobID == "" {
		t, err := k.kc.TaskByDeliveryID(ctx, j.DeliveryID)
		switch {
		case errors.Is(err, kwik.ErrNotFound):
			return nil
		case err != nil:
			return err
		}
		jobID = t.JobID
	}
	return k.kc.Cancel(ctx, jobID)
}

// kwikClient is the node's Kwik client: in sandbox mode the mounted fake's
// (an explicit VAYVA_KWIK_BASE_URL still wins), in live mode the
// configured account's; nil when live mode has no Kwik account, and then
// deliveries are neither quoted nor booked.
func (n *Node) kwikClient() (*kwik.Client, error) {
	cfg := kwik.Config{BaseURL: n.cfg.KwikBaseURL, DomainName: n.cfg.KwikDomain, Email: n.cfg.KwikEmail,
		Password: n.cfg.KwikPassword, RetryScale: n.cfg.RetryScale}
	if n.Sandbox != nil {
		sc := n.Sandbox.Config()
		cfg.DomainName, cfg.Email, cfg.Password = sc.KwikDomainName, sc.KwikEmail, sc.KwikPassword
		if cfg.BaseURL == "" {
			cfg.BaseURL = n.Sandbox.BaseURLs().Kwik
		}
	} else if cfg.DomainName == "" && cfg.Email == "" && cfg.Password == "" {
		return nil, nil
	}
	c, err := kwik.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("VAYVA_KWIK_DOMAIN, VAYVA_KWIK_EMAIL, VAYVA_KWIK_PASSWORD: %w", err)
	}
	return c, nil
}

// deliveryGateway is the order actor's DeliveryGateway, nil without Kwik.
func (n *Node) deliveryGateway() (actors.DeliveryGateway, error) {
	kc, err := n.kwikClient()
	if err != nil || kc == nil {
		return nil, err
	}
	return kwikDeliveries{kc}, nil
}

// startDeliveryWorker starts the delivery worker (workers role) when a
// delivery provider is configured.
func (n *Node) startDeliveryWorker(ctx context.Context) error {
	kc, err := n.kwikClient()
	if err != nil || kc == nil {
		return err
	}
	n.DeliveryWorker, err = worker.NewDelivery(worker.DeliveryConfig{ConsumerName: n.consumerBase() + "-delivery", Logger: n.log},
		n.Queues, kwikDeliveries{kc}, orderCommands{n.member})
	if err != nil {
		return err
	}
	if err := n.DeliveryWorker.Start(ctx); err != nil {
		return err
	}
	n.onStop("delivery worker", n.DeliveryWorker.Stop, nil)
	return nil
}

// deliveryCallTimeout bounds a delivery report to an order.
const deliveryCallTimeout = 30 * time.Second

func (c orderCommands) RecordDelivery(ctx context.Context, orderID string, m *messages.RecordDelivery) error {
	ctx, cancel := context.WithTimeout(ctx, deliveryCallTimeout)
	defer cancel()
	_, err := cluster.Request[*messages.Order](ctx, c.member(), actors.OrderKind, orderID, m)
	return err
}
