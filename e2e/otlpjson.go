package e2e

import (
	"encoding/json"
	"path/filepath"
	"strconv"
)

// The shapes below are the OTLP JSON encoding the Collector's file exporter
// writes, reduced to what the tests look at.

type KeyValue struct {
	Key   string   `json:"key"`
	Value AnyValue `json:"value"`
}

type AnyValue struct {
	StringValue *string `json:"stringValue,omitempty"`
	IntValue    *string `json:"intValue,omitempty"` // int64 as a JSON string
	DoubleValue *Double `json:"doubleValue,omitempty"`
	BoolValue   *bool   `json:"boolValue,omitempty"`
	ArrayValue  *struct {
		Values []AnyValue `json:"values"`
	} `json:"arrayValue,omitempty"`
	KvlistValue *struct {
		Values []KeyValue `json:"values"`
	} `json:"kvlistValue,omitempty"`
}

// Double is an OTLP JSON double: a number, or "NaN", "Infinity" or
// "-Infinity" as a string (protobuf's JSON mapping).
type Double float64

func (d *Double) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		f, err := strconv.ParseFloat(s, 64)
		*d = Double(f)
		return err
	}
	var f float64
	err := json.Unmarshal(b, &f)
	*d = Double(f)
	return err
}

// String renders v the way tests compare it.
func (v AnyValue) String() string {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.IntValue != nil:
		return *v.IntValue
	case v.DoubleValue != nil:
		return strconv.FormatFloat(float64(*v.DoubleValue), 'g', -1, 64)
	case v.BoolValue != nil:
		return strconv.FormatBool(*v.BoolValue)
	case v.ArrayValue != nil:
		b, _ := json.Marshal(v.ArrayValue.Values)
		return string(b)
	case v.KvlistValue != nil:
		b, _ := json.Marshal(v.KvlistValue.Values)
		return string(b)
	}
	return ""
}

// Attrs is an attribute list.
type Attrs []KeyValue

// Get returns the attribute key rendered as a string, and whether it exists.
func (a Attrs) Get(key string) (string, bool) {
	for _, kv := range a {
		if kv.Key == key {
			return kv.Value.String(), true
		}
	}
	return "", false
}

type Resource struct {
	Attributes Attrs `json:"attributes"`
}

type Scope struct {
	Name string `json:"name"`
}

// LogRecord is one received log record with its resource.
type LogRecord struct {
	TimeUnixNano         string   `json:"timeUnixNano"`
	ObservedTimeUnixNano string   `json:"observedTimeUnixNano"`
	SeverityNumber       int      `json:"severityNumber"`
	SeverityText         string   `json:"severityText"`
	Body                 AnyValue `json:"body"`
	Attributes           Attrs    `json:"attributes"`
	TraceID              string   `json:"traceId"`
	SpanID               string   `json:"spanId"`
	Resource             Resource `json:"-"`
	Scope                Scope    `json:"-"`
}

// Time is the record's timestamp in Unix nanoseconds.
func (r LogRecord) Time() int64 { n, _ := strconv.ParseInt(r.TimeUnixNano, 10, 64); return n }

type Event struct {
	Name       string `json:"name"`
	Attributes Attrs  `json:"attributes"`
}

type Link struct {
	TraceID    string `json:"traceId"`
	SpanID     string `json:"spanId"`
	Attributes Attrs  `json:"attributes"`
}

// Span is one received span with its resource.
type Span struct {
	TraceID           string  `json:"traceId"`
	SpanID            string  `json:"spanId"`
	ParentSpanID      string  `json:"parentSpanId"`
	TraceState        string  `json:"traceState"`
	Name              string  `json:"name"`
	Kind              int     `json:"kind"`
	StartTimeUnixNano string  `json:"startTimeUnixNano"`
	EndTimeUnixNano   string  `json:"endTimeUnixNano"`
	Attributes        Attrs   `json:"attributes"`
	Events            []Event `json:"events"`
	Links             []Link  `json:"links"`
	Status            struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
	Resource Resource `json:"-"`
	Scope    Scope    `json:"-"`
}

type NumberPoint struct {
	Attributes Attrs    `json:"attributes"`
	AsInt      *string  `json:"asInt,omitempty"`
	AsDouble   *float64 `json:"asDouble,omitempty"`
}

// Value is the point's value as a float.
func (p NumberPoint) Value() float64 {
	if p.AsDouble != nil {
		return *p.AsDouble
	}
	if p.AsInt != nil {
		f, _ := strconv.ParseFloat(*p.AsInt, 64)
		return f
	}
	return 0
}

type HistogramPoint struct {
	Attributes     Attrs     `json:"attributes"`
	Count          string    `json:"count"`
	Sum            *float64  `json:"sum,omitempty"`
	BucketCounts   []string  `json:"bucketCounts"`
	ExplicitBounds []float64 `json:"explicitBounds"`
}

// Metric is one received metric (one export's worth) with its resource.
type Metric struct {
	Name string `json:"name"`
	Unit string `json:"unit"`
	Sum  *struct {
		DataPoints             []NumberPoint `json:"dataPoints"`
		AggregationTemporality int           `json:"aggregationTemporality"`
		IsMonotonic            bool          `json:"isMonotonic"`
	} `json:"sum,omitempty"`
	Gauge *struct {
		DataPoints []NumberPoint `json:"dataPoints"`
	} `json:"gauge,omitempty"`
	Histogram *struct {
		DataPoints []HistogramPoint `json:"dataPoints"`
	} `json:"histogram,omitempty"`
	Resource Resource `json:"-"`
	Scope    Scope    `json:"-"`
}

// Logs returns every log record received so far.
func (c *Collector) Logs() ([]LogRecord, error) {
	var out []LogRecord
	err := readLines(filepath.Join(c.Dir, "logs.jsonl"), func(line []byte) error {
		var doc struct {
			ResourceLogs []struct {
				Resource  Resource `json:"resource"`
				ScopeLogs []struct {
					Scope      Scope       `json:"scope"`
					LogRecords []LogRecord `json:"logRecords"`
				} `json:"scopeLogs"`
			} `json:"resourceLogs"`
		}
		if err := json.Unmarshal(line, &doc); err != nil {
			return err
		}
		for _, rl := range doc.ResourceLogs {
			for _, sl := range rl.ScopeLogs {
				for _, r := range sl.LogRecords {
					r.Resource, r.Scope = rl.Resource, sl.Scope
					out = append(out, r)
				}
			}
		}
		return nil
	})
	return out, err
}

// Spans returns every span received so far.
func (c *Collector) Spans() ([]Span, error) {
	var out []Span
	err := readLines(filepath.Join(c.Dir, "traces.jsonl"), func(line []byte) error {
		var doc struct {
			ResourceSpans []struct {
				Resource   Resource `json:"resource"`
				ScopeSpans []struct {
					Scope Scope  `json:"scope"`
					Spans []Span `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		}
		if err := json.Unmarshal(line, &doc); err != nil {
			return err
		}
		for _, rs := range doc.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					s.Resource, s.Scope = rs.Resource, ss.Scope
					out = append(out, s)
				}
			}
		}
		return nil
	})
	return out, err
}

// Metrics returns every metric export received so far, oldest first.
func (c *Collector) Metrics() ([]Metric, error) {
	var out []Metric
	err := readLines(filepath.Join(c.Dir, "metrics.jsonl"), func(line []byte) error {
		var doc struct {
			ResourceMetrics []struct {
				Resource     Resource `json:"resource"`
				ScopeMetrics []struct {
					Scope   Scope    `json:"scope"`
					Metrics []Metric `json:"metrics"`
				} `json:"scopeMetrics"`
			} `json:"resourceMetrics"`
		}
		if err := json.Unmarshal(line, &doc); err != nil {
			return err
		}
		for _, rm := range doc.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					m.Resource, m.Scope = rm.Resource, sm.Scope
					out = append(out, m)
				}
			}
		}
		return nil
	})
	return out, err
}

// LastSum returns the latest value of the counter name whose point carries
// the attribute key=value (any point when key is empty).
func LastSum(ms []Metric, name, key, value string) (float64, bool) {
	var v float64
	found := false
	for _, m := range ms {
		if m.Name != name || m.Sum == nil {
			continue
		}
		for _, p := range m.Sum.DataPoints {
			if key != "" {
				if got, ok := p.Attributes.Get(key); !ok || got != value {
					continue
				}
			}
			v, found = p.Value(), true
		}
	}
	return v, found
}
