// Command vayva runs a Vayva node (`vayva serve`), applies migrations
// (`vayva migrate`), checks the ledger (`vayva ledger check`) and drills
// a loopback cluster through faults (`vayva drill`). Every
// setting is a VAYVA_* environment variable; `vayva help` lists them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/vayvahq/vayva/node"
	"github.com/vayvahq/vayva/persistence/postgres"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	case "serve", "migrate", "ledger", "drill":
	default:
		fmt.Fprintf(stderr, "vayva: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	cfg, err := node.LoadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "vayva: invalid configuration: %v\n", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	switch args[0] {
	case "serve":
		return node.Serve(cfg, log, nil)
	case "migrate":
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := postgres.Migrate(ctx, cfg.DatabaseURL); err != nil {
			log.Error().Err(err).Msg("migrate failed")
			return 1
		}
		log.Info().Msg("migrations applied")
		return 0
	case "drill":
		return drillCommand(args[1:], cfg, stdout, stderr)
	case "ledger":
		if len(args) < 2 || args[1] != "check" {
			fmt.Fprintln(stderr, "usage: vayva ledger check")
			return 2
		}
		return ledgerCheck(cfg, log, stdout)
	}
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: vayva <command>

Commands:
  serve          run a node (edge, cluster member, ingestors, relay, workers)
  migrate        apply database migrations and exit
  ledger check   verify the ledger invariants; exit 0 when all hold, 1 otherwise
  drill          start three members on loopback, inject faults under load (join, drain,
                 SIGKILL, SIGSTOP), compare every acknowledged operation with the database;
                 exit 0 when nothing was lost or duplicated ([-short] [-stop 10s] [-keep] [-q])
  help           show this help

Settings (environment variables):
`)
	for _, s := range node.Settings {
		fmt.Fprintf(w, "  %s\n      %s\n", s[0], s[1])
	}
}

func newLogger(cfg node.Config, w io.Writer) zerolog.Logger {
	level, _ := zerolog.ParseLevel(cfg.LogLevel)
	zerolog.TimeFieldFormat = time.RFC3339Nano
	if cfg.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Str("service", "vayva").Logger()
}
