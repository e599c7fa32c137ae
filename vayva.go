// Package vayva holds the domain vocabulary of the Vayva commerce runtime:
// the coded error type, tenant and request context helpers, identifiers,
// domains and the events actors publish. It imports only the standard
// library; every other package of the runtime imports it.
package vayva

// Domain names a data-ownership domain of the platform. Each domain owns one
// PostgreSQL schema and one database role; a domain's transactions run as
// its role, so the database refuses writes to tables of another domain.
type Domain string

// The domains of the seed's data-ownership table, plus the runtime's own.
const (
	DomainAuth     Domain = "auth"
	DomainMerchant Domain = "merchant"
	DomainCatalog  Domain = "catalog"
	DomainOrders   Domain = "orders"
	DomainLedger   Domain = "ledger"
	DomainComm     Domain = "comm"
	DomainRuntime  Domain = "runtime"
)

// Domains lists every domain in a stable order.
var Domains = []Domain{DomainAuth, DomainMerchant, DomainCatalog, DomainOrders, DomainLedger, DomainComm, DomainRuntime}

// Role is the PostgreSQL role a domain's transactions run as.
func (d Domain) Role() string { return "vayva_" + string(d) }

// Valid reports whether d is one of the known domains.
func (d Domain) Valid() bool {
	for _, x := range Domains {
		if x == d {
			return true
		}
	}
	return false
}
