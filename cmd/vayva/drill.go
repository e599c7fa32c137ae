package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/vayvahq/vayva/drill"
	"github.com/vayvahq/vayva/node"
)

// drillCommand runs `vayva drill`: three members of this executable on
// loopback, faults injected in turn under load, every acknowledged
// operation compared with the database. Exit 0 when nothing was lost or
// duplicated and every check held, 1 otherwise, 2 on bad flags.
func drillCommand(args []string, cfg node.Config, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	short := fs.Bool("short", false, "the shorter variant: fewer shops and clients, shorter pauses (SIGSTOP 3s)")
	stop := fs.Duration("stop", 0, "how long the SIGSTOP fault pauses a member (default 10s, 3s with -short)")
	keep := fs.Bool("keep", false, "keep the drill's database, Redis keys and member logs")
	quiet := fs.Bool("q", false, "print only the report, not each step")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *stop < 0 {
		fmt.Fprintln(stderr, "usage: vayva drill [-short] [-stop 10s] [-keep] [-q]")
		return 2
	}
	// Ctrl-C ends the drill, which stops every member it started; a second
	// one kills the drill at once, and the kernel its members.
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	go func() {
		<-ctx.Done()
		cancel()
	}()
	progress := stderr
	if *quiet {
		progress = io.Discard
	}
	res, err := drill.Run(ctx, drill.Config{
		Short: *short, Stop: *stop, Keep: *keep, DatabaseURL: cfg.DatabaseURL, RedisURL: cfg.RedisURL,
		Progress: progress,
	})
	if err != nil {
		fmt.Fprintf(stderr, "vayva drill: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, res.Table)
	if !res.OK() {
		return 1
	}
	return 0
}
