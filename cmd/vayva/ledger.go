package main

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva/node"
	"github.com/vayvahq/vayva/persistence/postgres"
)

// ledgerCheck runs the ledger invariants from SQL alone and prints the
// report as JSON.
func ledgerCheck(cfg node.Config, log zerolog.Logger, stdout io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The checks scan the whole ledger: the context bounds them, not the
	// pool's per-statement limit.
	db, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.WithStatementTimeout(0))
	if err != nil {
		log.Error().Err(err).Msg("ledger check: open database")
		return 1
	}
	defer db.Close()
	report, err := db.CheckLedger(ctx)
	if err != nil {
		log.Error().Err(err).Msg("ledger check failed to run")
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(report)
	if !report.OK {
		return 1
	}
	return 0
}
