#!/usr/bin/env bash
# Creates the database named in the given postgres:// URL if it does not
# exist, connecting to the server's "postgres" database with the same user.
set -euo pipefail
url=${1:?usage: create-database.sh postgres://user@host:port/db}
db=$(sed -E 's#^[a-z]+://[^/]*/([^?]+).*#\1#' <<<"$url")
admin=$(sed -E "s#/${db}(\\?|\$)#/postgres\\1#" <<<"$url")
cd "$(dirname "$0")/.."
go run ./scripts/createdb "$admin" "$db"
