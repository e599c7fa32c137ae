// Command createdb creates a PostgreSQL database if it does not exist. It is
// used by `make run` so a fresh machine needs no psql client.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: createdb ADMIN_URL NAME")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "createdb: connect: %v\n", err)
		os.Exit(1)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, os.Args[2]).Scan(&exists); err != nil {
		fmt.Fprintf(os.Stderr, "createdb: %v\n", err)
		os.Exit(1)
	}
	if exists {
		return
	}
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{os.Args[2]}.Sanitize()); err != nil {
		fmt.Fprintf(os.Stderr, "createdb: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("created database %s\n", os.Args[2])
}
