package mapping

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// colorStep converts a Zigbee2MQTT colour object ({x,y}, {hue,saturation}
// or {h,s}) to "#RRGGBB" at full brightness, and "#RRGGBB" back to the
// object named by write (xy, hs or hex). Brightness is a separate property
// in Zigbee2MQTT, so the conversion is lossy for colours that are not at full
// brightness: "#800000" reads back as "#FF0000".
type colorStep struct{ write string }

func (colorStep) Name() string { return "color" }

func (colorStep) Read(v any) (any, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		if s, ok := v.(string); ok {
			if r, g, b, err := parseHex(s); err == nil {
				return formatHex(r, g, b), nil
			}
		}
		return nil, fmt.Errorf("want a colour object, got %s", valueKey(v))
	}
	if x, okx := firstOf(obj, "x"); okx {
		if y, oky := firstOf(obj, "y"); oky {
			fx, err1 := toFloat(x)
			fy, err2 := toFloat(y)
			if err1 == nil && err2 == nil {
				r, g, b := xyToRGB(fx, fy)
				return formatHex(r, g, b), nil
			}
		}
	}
	h, okh := firstOf(obj, "hue", "h")
	s, oks := firstOf(obj, "saturation", "s")
	if okh && oks {
		fh, err1 := toFloat(h)
		fs, err2 := toFloat(s)
		if err1 == nil && err2 == nil {
			r, g, b := hsvToRGB(fh, fs/100, 1)
			return formatHex(r, g, b), nil
		}
	}
	if hex, ok := obj["hex"].(string); ok {
		if r, g, b, err := parseHex(hex); err == nil {
			return formatHex(r, g, b), nil
		}
	}
	return nil, fmt.Errorf("colour object has neither x/y nor hue/saturation: %s", valueKey(v))
}

func (c colorStep) Write(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("want \"#RRGGBB\", got %s", valueKey(v))
	}
	r, g, b, err := parseHex(s)
	if err != nil {
		return nil, err
	}
	switch c.write {
	case "hex":
		return map[string]any{"hex": formatHex(r, g, b)}, nil
	case "hs":
		h, sat, _ := rgbToHSV(r, g, b)
		return map[string]any{"hue": math.Round(h), "saturation": math.Round(sat * 100)}, nil
	}
	x, y := rgbToXY(r, g, b)
	return map[string]any{"x": roundTo(x, 4), "y": roundTo(y, 4)}, nil
}

// firstOf returns the value of the first of keys in obj. A key also
// matches with a suffix ("x_rgb" for "x"): multi-colour lights name their
// composites' features that way.
func firstOf(obj map[string]any, keys ...string) (any, bool) {
	for _, k := range keys {
		if v, ok := obj[k]; ok && v != nil {
			return v, true
		}
		for name, v := range obj {
			if strings.HasPrefix(name, k+"_") && v != nil {
				return v, true
			}
		}
	}
	return nil, false
}

func parseHex(s string) (r, g, b float64, err error) {
	h := strings.TrimPrefix(strings.TrimSpace(s), "#")
	if len(h) != 6 {
		return 0, 0, 0, fmt.Errorf("%q is not a colour like \"#RRGGBB\"", s)
	}
	n, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%q is not a colour like \"#RRGGBB\"", s)
	}
	return float64(n>>16&0xff) / 255, float64(n>>8&0xff) / 255, float64(n&0xff) / 255, nil
}

func formatHex(r, g, b float64) string {
	c := func(f float64) int { return int(math.Round(math.Max(0, math.Min(1, f)) * 255)) }
	return fmt.Sprintf("#%02X%02X%02X", c(r), c(g), c(b))
}

func gammaExpand(c float64) float64 {
	if c > 0.04045 {
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	return c / 12.92
}

func gammaCompress(c float64) float64 {
	if c <= 0.0031308 {
		return 12.92 * c
	}
	return 1.055*math.Pow(c, 1/2.4) - 0.055
}

// rgbToXY converts sRGB (0–1) to CIE 1931 xy (wide-gamut D65 matrix, as
// used by Zigbee lights).
func rgbToXY(r, g, b float64) (x, y float64) {
	r, g, b = gammaExpand(r), gammaExpand(g), gammaExpand(b)
	X := r*0.4124 + g*0.3576 + b*0.1805
	Y := r*0.2126 + g*0.7152 + b*0.0722
	Z := r*0.0193 + g*0.1192 + b*0.9505
	sum := X + Y + Z
	if sum == 0 {
		return 0.3127, 0.3290 // D65 white point for black
	}
	return X / sum, Y / sum
}

// xyToRGB converts CIE xy at full brightness to sRGB (0–1), scaled so the
// brightest channel is 1.
func xyToRGB(x, y float64) (r, g, b float64) {
	if y <= 0 {
		return 1, 1, 1
	}
	Y := 1.0
	X := x / y * Y
	Z := (1 - x - y) / y * Y
	r = X*3.2406 - Y*1.5372 - Z*0.4986
	g = -X*0.9689 + Y*1.8758 + Z*0.0415
	b = X*0.0557 - Y*0.2040 + Z*1.0570
	r, g, b = math.Max(r, 0), math.Max(g, 0), math.Max(b, 0)
	if m := math.Max(r, math.Max(g, b)); m > 0 {
		r, g, b = r/m, g/m, b/m
	}
	return gammaCompress(r), gammaCompress(g), gammaCompress(b)
}

func hsvToRGB(h, s, v float64) (r, g, b float64) {
	h = math.Mod(h, 360)
	if h < 0 {
		h += 360
	}
	c := v * s
	x := c * (1 - math.Abs(math.Mod(h/60, 2)-1))
	m := v - c
	switch {
	case h < 60:
		r, g, b = c, x, 0
	case h < 120:
		r, g, b = x, c, 0
	case h < 180:
		r, g, b = 0, c, x
	case h < 240:
		r, g, b = 0, x, c
	case h < 300:
		r, g, b = x, 0, c
	default:
		r, g, b = c, 0, x
	}
	return r + m, g + m, b + m
}

func rgbToHSV(r, g, b float64) (h, s, v float64) {
	max := math.Max(r, math.Max(g, b))
	min := math.Min(r, math.Min(g, b))
	d := max - min
	switch {
	case d == 0:
		h = 0
	case max == r:
		h = 60 * math.Mod((g-b)/d, 6)
	case max == g:
		h = 60 * ((b-r)/d + 2)
	default:
		h = 60 * ((r-g)/d + 4)
	}
	if h < 0 {
		h += 360
	}
	if max > 0 {
		s = d / max
	}
	return h, s, max
}
