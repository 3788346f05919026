package bootstrap

// Which log items the hand encoder (wire_export.go) writes itself: those
// whose every attribute and field it maps exactly as the SDK path would.
// The rest take the SDK path, one record at a time.

import (
	"log/slog"
	"math"
)

// eligible reports whether the hand encoder writes exactly what the SDK
// path would for it: no key twice where sdk/log would de-duplicate, no empty
// key, values of the kinds it maps itself, within the limits.
func (e *itemWriter) eligible(it *logItem) bool {
	e.keys = e.keys[:0]
	top := 0
	firstGroup := -1
	for i := len(e.chains) - 1; i >= 0; i-- {
		c := e.chains[i]
		if c.group != "" {
			firstGroup = i
			break
		}
		for _, a := range c.attrs {
			if !e.simpleAttr(a, 0) {
				return false
			}
			e.keys = append(e.keys, a.Key)
			top++
		}
	}
	if firstGroup < 0 {
		ok := true
		it.record.Attrs(func(a slog.Attr) bool {
			ok = e.simpleAttr(a, 0)
			e.keys = append(e.keys, a.Key)
			top++
			return ok
		})
		if !ok {
			return false
		}
	} else {
		// Each group level's keys must be distinct (sdk/log de-duplicates
		// maps too), including the name of a deeper group that may become
		// one of them; the outermost level that yields an attribute names
		// the top-level key.
		depth, outer := 0, ""
		for i := firstGroup; i >= 0; {
			depth++
			j := i - 1
			for ; j >= 0 && e.chains[j].group == ""; j-- {
			}
			lvl := len(e.keys)
			for k := i - 1; k > j; k-- {
				for _, a := range e.chains[k].attrs {
					if !e.simpleAttr(a, depth) {
						return false
					}
					e.keys = append(e.keys, a.Key)
				}
			}
			produces := len(e.keys) > lvl
			if j < 0 {
				ok := true
				it.record.Attrs(func(a slog.Attr) bool {
					ok = e.simpleAttr(a, depth)
					e.keys = append(e.keys, a.Key)
					return ok
				})
				if !ok {
					return false
				}
				produces = produces || it.record.NumAttrs() > 0
			}
			for k := j; k >= 0; k-- {
				if g := e.chains[k].group; g != "" {
					e.keys = append(e.keys, g)
				}
			}
			if hasDup(e.keys[lvl:]) {
				return false
			}
			e.keys = e.keys[:lvl]
			if produces && outer == "" {
				outer = e.chains[i].group
			}
			i = j
		}
		if outer != "" {
			e.keys = append(e.keys, outer)
			top++
		}
		if depth > 32 {
			return false
		}
	}
	for _, f := range it.fields {
		if f.Key == "" || !simpleField(f.Value, e.cfg.lengthLimit) {
			return false
		}
		e.keys = append(e.keys, f.Key)
		top++
	}
	if e.cfg.countLimit >= 0 && top > e.cfg.countLimit {
		return false
	}
	return !hasDup(e.keys)
}

func hasDup(keys []string) bool {
	if len(keys) > 16 {
		seen := make(map[string]struct{}, len(keys))
		for _, k := range keys {
			if _, ok := seen[k]; ok {
				return true
			}
			seen[k] = struct{}{}
		}
		return false
	}
	for i := 1; i < len(keys); i++ {
		for _, k := range keys[:i] {
			if k == keys[i] {
				return true
			}
		}
	}
	return false
}

// simpleAttr: a key, and a value the bridge maps without reflection.
func (e *itemWriter) simpleAttr(a slog.Attr, depth int) bool {
	if a.Key == "" {
		return false
	}
	v := a.Value
	switch v.Kind() {
	case slog.KindString:
		return e.cfg.lengthLimit < 0 || len(v.String()) <= e.cfg.lengthLimit
	case slog.KindInt64, slog.KindFloat64, slog.KindBool, slog.KindDuration, slog.KindTime:
		return true
	case slog.KindUint64:
		return v.Uint64() <= math.MaxInt64
	case slog.KindGroup:
		g := v.Group()
		if len(g) == 0 || depth > 32 {
			return false
		}
		start := len(e.keys)
		for _, x := range g {
			if !e.simpleAttr(x, depth+1) {
				e.keys = e.keys[:start]
				return false
			}
			e.keys = append(e.keys, x.Key)
		}
		dup := hasDup(e.keys[start:])
		e.keys = e.keys[:start]
		return !dup
	}
	return false
}

// simpleField: a context field value AttributeValue maps without fmt.
func simpleField(v slog.Value, lengthLimit int) bool {
	switch v.Kind() {
	case slog.KindString:
		return lengthLimit < 0 || len(v.String()) <= lengthLimit
	case slog.KindInt64, slog.KindUint64, slog.KindFloat64, slog.KindBool, slog.KindDuration:
		return true
	}
	return false
}
