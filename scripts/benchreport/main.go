// Command benchreport turns the output of `go test -bench` (several runs
// of each benchmark, -count) into one table: benchmark, ours, the raw
// baseline, the ratio, and p50/p99 where the benchmark reports them, each
// as the minimum and median over the runs; and, before the table (so that
// `make bench` ends with it), what each benchmark's raw baseline is and why
// it is the limit, from the benchmark's own doc comment.
//
// Benchmarks report their figures with b.ReportMetric under these units:
// the first unit that is none of the below is "ours"; a unit starting
// "raw-" or "bare-" is the raw baseline measured in the same run; a unit
// starting "ratio" is ours over the baseline; units starting "p50" and
// "p99" are latency quantiles (a baseline unit with "p99" in it is the
// baseline's, shown in brackets after ours).
//
//	go test -run '^$' -bench . -count 3 ./... | tee bench/raw.txt
//	go run ./scripts/benchreport -src . bench/raw.txt > bench/report.md
package main

import (
	"bufio"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// result is every run's value of each metric of one benchmark.
type result struct {
	name  string
	order []string
	runs  map[string][]float64
}

var (
	benchLine = regexp.MustCompile(`^(Benchmark[^\s-]+)(?:-\d+)?\s+\d+\s+(.*)$`)
	// A benchmark's name is printed when it starts; when something it
	// logs lands on that line, its figures come later on a line of their
	// own.
	benchStart = regexp.MustCompile(`^(Benchmark[^\s-]+)(?:-\d+)?\s`)
	figures    = regexp.MustCompile(`^\d+\s+(\S+ ns/op.*)$`)
)

func parse(r io.Reader) ([]*result, error) {
	byName := map[string]*result{}
	var out []*result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	pending := ""
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			if f := figures.FindStringSubmatch(line); f != nil && pending != "" {
				m = []string{line, pending, f[1]}
			} else if st := benchStart.FindStringSubmatch(line); st != nil {
				pending = st[1]
				continue
			} else {
				continue
			}
		}
		pending = ""
		res := byName[m[1]]
		if res == nil {
			res = &result{name: m[1], runs: map[string][]float64{}}
			byName[m[1]] = res
			out = append(out, res)
		}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			unit := f[i+1]
			if _, seen := res.runs[unit]; !seen {
				res.order = append(res.order, unit)
			}
			res.runs[unit] = append(res.runs[unit], v)
		}
	}
	return out, sc.Err()
}

// parts are the units that play each part of the table.
type parts struct {
	ours, raw, ratio, p50, p99 string
	// rawP99 is the baseline's p99 under the same load, where reported.
	rawP99 string
}

// roles picks the units that play each part of the table.
func (r *result) roles() parts {
	var p parts
	for _, u := range r.order {
		baseline := strings.HasPrefix(u, "raw-") || strings.HasPrefix(u, "bare-")
		switch {
		case baseline && strings.Contains(u, "p99"):
			p.rawP99 = u
		case baseline:
			if p.raw == "" {
				p.raw = u
			}
		case strings.HasPrefix(u, "ratio"):
			if p.ratio == "" {
				p.ratio = u
			}
		case strings.HasPrefix(u, "p50"):
			p.p50 = u
		case strings.HasPrefix(u, "p99"):
			p.p99 = u
		case strings.HasSuffix(u, "/op"):
		default:
			if p.ours == "" {
				p.ours = u
			}
		}
	}
	return p
}

// minMedian formats the minimum and median of values.
func minMedian(values []float64) string {
	if len(values) == 0 {
		return "–"
	}
	v := append([]float64(nil), values...)
	sort.Float64s(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	if len(v) == 1 {
		return num(v[0])
	}
	return num(v[0]) + " / " + num(med)
}

func num(f float64) string {
	switch {
	case f >= 1000:
		return strconv.FormatFloat(f, 'f', 0, 64)
	case f >= 10:
		return strconv.FormatFloat(f, 'f', 1, 64)
	default:
		return strconv.FormatFloat(f, 'f', 3, 64)
	}
}

// docs reads the doc comments of every Benchmark function under src.
func docs(src string) map[string]string {
	out := map[string]string{}
	_ = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (d.Name() == "third_party" || d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
		if err != nil {
			return nil
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if ok && strings.HasPrefix(fn.Name.Name, "Benchmark") && fn.Doc != nil {
				out[fn.Name.Name] = strings.Join(strings.Fields(fn.Doc.Text()), " ")
			}
		}
		return nil
	})
	return out
}

func main() {
	src := flag.String("src", ".", "source tree whose benchmark doc comments describe the baselines")
	flag.Parse()
	in := io.Reader(os.Stdin)
	if flag.NArg() > 0 {
		f, err := os.Open(flag.Arg(0))
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			os.Exit(1)
		}
		defer f.Close()
		in = f
	}
	results, err := parse(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	comments := docs(*src)
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	fmt.Fprintln(w, "# Benchmark report")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Baselines")
	fmt.Fprintln(w)
	for _, r := range results {
		// Sub-benchmarks share their function's comment.
		fn, _, _ := strings.Cut(r.name, "/")
		d := comments[fn]
		if d == "" {
			d = "(no doc comment: it should say what its raw baseline is and why that is the limit)"
		}
		fmt.Fprintf(w, "- **%s**: %s\n", strings.TrimPrefix(r.name, "Benchmark"), d)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Results")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Figures are min / median over the runs of `make bench` (same machine, same run for ours and the baseline).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| benchmark | ours | raw baseline | ratio | p50 | p99 |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range results {
		p := r.roles()
		cell := func(unit string) string {
			if unit == "" {
				return "–"
			}
			return minMedian(r.runs[unit]) + " " + unit
		}
		p99 := cell(p.p99)
		if p.rawP99 != "" {
			p99 += " (" + cell(p.rawP99) + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", strings.TrimPrefix(r.name, "Benchmark"),
			cell(p.ours), cell(p.raw), cell(p.ratio), cell(p.p50), p99)
	}
}
