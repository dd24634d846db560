# common.gp - output formats and shared style of every wmbench figure.
#
# wmbench report copies this file, then the figure's own template, below the
# variables it writes, so each generated script is self-contained.
# Needs: name (file stem), formats (words of 'pdf png svg tex'),
#   pdf_w, pdf_h (inches, also for cairolatex), png_w, png_h (pixels, also SVG).
# Every text that comes from the data is a single-quoted string; Q is a
# single quote, joined with '.' where a label holds one.
set encoding utf8
pdf_font = 8
png_font = 13
# Liberation Sans (fonts-liberation2, which make deps installs) has the
# metrics of Arial and Helvetica. Where fontconfig lacks it, another sans
# font stands in; the layout below is measured from whatever font is drawn.
font_name = 'Liberation Sans'

term_cmd(f) = (f eq 'pdf') ? \
	sprintf("set terminal pdfcairo noenhanced color fontscale 1 size %.2fin,%.2fin font '%s,%g' linewidth 1", pdf_w, pdf_h, font_name, pdf_font) : \
	(f eq 'png') ? \
	sprintf("set terminal pngcairo noenhanced color size %d,%d font '%s,%g' linewidth 1.5", png_w, png_h, font_name, png_font) : \
	(f eq 'svg') ? \
	sprintf("set terminal svg noenhanced size %d,%d font '%s,%g' linewidth 1.5 background '#ffffff'", png_w, png_h, font_name, png_font) : \
	sprintf("set terminal cairolatex pdf input color size %.2fin,%.2fin", pdf_w, pdf_h)
# The output file; cairolatex writes NAME_latex.tex and its graphics NAME_latex.pdf.
out_name(f) = (f eq 'tex') ? name . '_latex.tex' : name . '.' . f
# A text in the current format: LaTeX-escaped for cairolatex.
tx(s, s_tex) = (fmt eq 'tex') ? s_tex : s
# gnuplot's character cell (the width of a digit and the height of a line of
# the font actually used). gnuplot sizes keys and automatic margins with it;
# it is measured here by drawing an empty plot in each format, so the layout
# follows the font that fontconfig supplies. Kept in absolute units (inches
# for the PDF, pixels for PNG and SVG), since a figure may grow its canvas.
# cairolatex text is set by LaTeX later; gnuplot's cell for it is measured
# on the figure's own .tex file (drawn again afterwards), and its drawn width
# taken as that of a 9 pt font.
pdf_h0 = pdf_h
png_h0 = png_h
array cell_w[4]
array cell_h[4]
fmt_i(f) = (f eq 'pdf') ? 1 : (f eq 'png') ? 2 : (f eq 'svg') ? 3 : 4
canvas_w(f) = (f eq 'pdf' || f eq 'tex') ? pdf_w : png_w
canvas_h(f) = (f eq 'pdf' || f eq 'tex') ? pdf_h : png_h
do for [f in 'pdf png svg' . (strstrt(formats, 'tex') > 0 ? ' tex' : '')] {
	eval term_cmd(f)
	set output (f eq 'tex') ? out_name(f) : '/dev/null'
	unset key
	plot [0:1][0:1] 0.5 notitle
	set output
	cell_w[fmt_i(f)] = 1.0 * GPVAL_TERM_HCHAR / GPVAL_TERM_XSIZE * canvas_w(f)
	cell_h[fmt_i(f)] = 1.0 * GPVAL_TERM_VCHAR / GPVAL_TERM_YSIZE * canvas_h(f)
}
set key
cell_w_abs(f) = cell_w[fmt_i(f)]
cell_h_abs(f) = cell_h[fmt_i(f)]
# The cell as fractions of the canvas.
hchar(f) = cell_w_abs(f) / canvas_w(f)
vchar(f) = cell_h_abs(f) / canvas_h(f)
# Makes the canvas (of format fmt) taller by n lines of text than the
# height the report chose, for a key of many rows.
grow_canvas(n) = sprintf('pdf_h = %.4f; png_h = %d', \
	pdf_h0 + ((fmt eq 'pdf' || fmt eq 'tex') ? n * cell_h_abs(fmt) : 0), \
	png_h0 + ((fmt eq 'png' || fmt eq 'svg') ? int(n * cell_h_abs(fmt) + 0.5) : 0))
text_w(n) = n * hchar(fmt)
line_h(n) = n * vchar(fmt)
# Width of n characters as drawn (tic labels, row names): a digit's width
# each, which bounds the average of the lower-case and mixed texts of the
# figures; LaTeX: a 9 pt font.
glyph_w(n) = (fmt eq 'tex') ? n * 0.66 * 9 / (pdf_w * 72) : n * hchar(fmt)
# Markers: the PDF is viewed at its printed size, the bitmaps on a screen.
psz(f) = (f eq 'png' || f eq 'svg') ? 1.0 : 0.55
clamp(v, lo, hi) = v < lo ? lo : v > hi ? hi : v
# a word of a line-number list as an index: gnuplot evaluates the options of
# "for [s in list]" even when the list is empty, where int(s) would fail
wi(s) = (s eq '') ? 1 : int(s)
max2(a, b) = a > b ? a : b
# Names beside an axis (heatmap rows, cost bars) take at most this much of
# the canvas width; longer ones are cut.
name_room = 0.45
# Canvas width over height.
aspect(f) = (f eq 'png' || f eq 'svg') ? 1.0 * png_w / png_h : pdf_w / pdf_h
# Left margin for y tic labels of n characters and a rotated y label.
left_margin(n) = clamp(glyph_w(n) + line_h(2.6) / aspect(fmt), 0.08, 0.3)
# Texts from the run: the long form for bitmaps, a short one for the PDF at
# column width, the short one LaTeX-escaped for cairolatex. key_w, key_w_pdf:
# longest entries in characters; key_w_tex: longest LaTeX source.
pick(s, s_pdf, s_tex) = (fmt eq 'tex') ? s_tex : (fmt eq 'pdf') ? s_pdf : s
kw_shown(f) = (f eq 'png' || f eq 'svg') ? key_w : key_w_pdf
kw_est(f) = (f eq 'tex') ? key_w_tex : kw_shown(f)
# The drawn width of a text in digit widths (gnuplot's cell). Where the
# measured cell says the font has Helvetica's metrics (a digit of 0.556 em:
# Liberation Sans, which make deps installs), from Helvetica's widths;
# otherwise from widths relative to a digit that bound both Liberation Sans
# and DejaVu Sans (a bare Debian's fallback), by their advance widths.
# Characters not in the tables count as 1.6 digits, an ellipsis 1.85.
# Helvetica's advance widths (1/1000 em; Liberation Sans and Nimbus Sans
# share them), for the characters of hv_chars in order; the backquote is
# left out (in a double-quoted string gnuplot would run it as a command).
hv_chars = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_abcdefghijklmnopqrstuvwxyz{|}~"
hv_widths = "278 278 355 556 556 889 667 191 333 333 389 584 278 333 278 278 556 556 556 556 556 556 556 556 556 556 278 278 584 584 584 556 1015 667 667 722 722 667 611 778 722 278 500 667 556 833 722 778 667 778 722 667 611 722 667 944 667 667 611 278 278 278 469 556 556 556 500 556 556 278 556 556 222 222 500 222 833 556 556 556 556 333 500 278 556 500 722 500 500 500 334 260 334 584"
em_ratio(f) = (f eq 'pdf') ? cell_w[1] * 72 / (pdf_font * 4.0 / 3) : \
	(f eq 'png') ? cell_w[2] / (png_font * 4.0 / 3) : 0
helv(f) = abs(em_ratio(f) - 0.556) < 0.006
hv_cw(c) = strstrt(hv_chars, c) > 0 ? real(word(hv_widths, strstrt(hv_chars, c))) / 556 : 1.85
cw_narrow = "ijl'"
cw_half = "ftr()[]- /.,:;!|"
cw_wide = "=+<>~*{}&#^"
cw_caps = "ABCDEFHIJKLNPRSTUVXYZ"
cw_any(c) = strstrt(cw_narrow, c) > 0 ? 0.45 : strstrt(cw_half, c) > 0 ? 0.65 : \
	c eq 'm' ? 1.55 : c eq 'w' ? 1.3 : strstrt('MW%@', c) > 0 ? 1.85 : \
	strstrt(cw_wide, c) > 0 ? 1.35 : strstrt(cw_caps, c) > 0 ? 1.3 : \
	strstrt('GOQ', c) > 0 ? 1.45 : strstrt(cw_ascii, c) > 0 ? 1.0 : 1.6
cw_ascii = "\"$?0123456789_abcdefghknopqsuvxyz\\"
cw(c) = helv(fmt) ? hv_cw(c) : cw_any(c)
cw_ell = 1.85
# Halves the text at each step, so long texts stay far from gnuplot's limit
# on recursion depth.
text_cells(s) = strlen(s) <= 1 ? (strlen(s) == 1 ? cw(s) : 0) : \
	text_cells(s[1:strlen(s) / 2]) + text_cells(s[strlen(s) / 2 + 1:])
# The most characters at the start (the end) of s that fit in b cells, by
# bisection between lo and hi characters.
fit_head(s, b) = fit_hb(s, b, 0, strlen(s))
fit_hb(s, b, lo, hi) = lo >= hi ? lo : \
	(text_cells(s[1:(lo + hi + 1) / 2]) <= b ? fit_hb(s, b, (lo + hi + 1) / 2, hi) : \
	 fit_hb(s, b, lo, (lo + hi + 1) / 2 - 1))
fit_tail(s, b) = fit_tb(s, b, 0, strlen(s))
fit_tb(s, b, lo, hi) = lo >= hi ? lo : \
	(text_cells(s[strlen(s) - (lo + hi + 1) / 2 + 1:]) <= b ? \
	 fit_tb(s, b, (lo + hi + 1) / 2, hi) : fit_tb(s, b, lo, (lo + hi + 1) / 2 - 1))
# A text cut to a width w (fraction of the canvas), ending in an ellipsis;
# LaTeX source is never cut (its markup is not drawn, and a cut could split
# it).
cut(s, w) = (fmt eq 'tex' || text_cells(s) <= w / hchar(fmt)) ? s : \
	s[1:fit_head(s, w / hchar(fmt) - cw_ell)] . '…'
# The same, cut in the middle: names that differ at the end (uchida
# (bits=32), uchida (bits=64)) stay apart.
cut_mid(s, w) = (fmt eq 'tex' || text_cells(s) <= w / hchar(fmt)) ? s : \
	cut_mid2(s, fit_head(s, (w / hchar(fmt) - cw_ell) / 2), w / hchar(fmt) - cw_ell)
cut_mid2(s, h, b) = s[1:h] . '…' . \
	s[strlen(s) - fit_tail(s, b - text_cells(s[1:h])) + 1:]
# A title or axis label across the canvas (or the height, for a y label).
title_cut(s, s_pdf, s_tex) = cut(pick(s, s_pdf, s_tex), 0.96)
# A rotated y label along ph of the canvas height (a stacked panel's label
# may reach into the gap between the panels, as far as half of it).
ylabel_cut(s, s_pdf, s_tex, ph) = cut(pick(s, s_pdf, s_tex), ph / aspect(fmt))
# A horizontal key centred on the canvas below a plot area of width pw
# (fraction of the canvas). gnuplot makes each column (title + 4.5 + sample
# 2.5) cells wide plus a tic, counting a title's characters; it fits as many
# columns as the plot area holds and warns when not even one fits. Before
# the key, a figure measures its entries (key_measure): kc, the drawn width
# in cells of the longest (text_cells), and kl, the most characters. The
# 'width' adjustment then makes gnuplot's columns as wide as the drawn text
# (ceil(kc) cells). An entry wider than the plot area gets one column
# narrowed to the plot area (the text then reaches past the plot area, not
# past the canvas), and one too wide for the canvas is cut to it in the
# middle, so that entries which differ at the end stay apart (key_title). cairolatex draws LaTeX later: its widths are character
# counts, less the markup. key_cols and key_rows are gnuplot's own, with a
# cell to spare for the tic, so the space kept below the plot holds the key.
key_fit(pw) = floor((0.48 + pw / 2) / hchar(fmt)) - 8.5
key_title(s, s_pdf, s_tex, pw) = (fmt eq 'tex') ? s_tex : \
	cut_mid(pick(s, s_pdf, s_tex), key_fit(pw) * hchar(fmt))
key_room(pw) = floor(pw / hchar(fmt)) - 6.5
kc = 0
kl = 0
key_over(pw) = (fmt ne 'tex') && ceil(kc) > key_room(pw)
tex_short(pw) = key_room(pw) - kw_shown(fmt) < 0 ? key_room(pw) - kw_shown(fmt) : 0
key_adj(pw) = (fmt eq 'tex') ? kw_shown(fmt) - kw_est(fmt) + tex_short(pw) : \
	key_over(pw) ? key_room(pw) - kl : ceil(kc) - kl
key_cols(nent, pw) = (fmt eq 'tex') ? \
	clamp(int(pw / text_w(kw_shown(fmt) + tex_short(pw) + 8.5)), 1, nent) : \
	key_over(pw) ? 1 : clamp(int(pw / text_w(ceil(kc) + 8.5)), 1, nent)
# Measures the key's entries T(1..nlines) and the texts in key_more (an
# array of extra entries, key_nmore of them): sets kc and kl.
key_measure = "kc = 0; kl = 0; do for [ki=1:nlines] { kc = max2(kc, text_cells(T(ki))); kl = max2(kl, strlen(T(ki))) }; do for [ki=1:key_nmore] { kc = max2(kc, text_cells(key_more[ki])); kl = max2(kl, strlen(key_more[ki])) }"
key_rows(nent, pw) = int(ceil(1.0 * nent / key_cols(nent, pw)))
key_h(nent, pw) = line_h(key_rows(nent, pw) * 1.15 + 0.5)
# The lines a key needs beyond the two rows that the report's canvas keeps.
key_grow(nent, pw) = (key_rows(nent, pw) > 2) ? (key_rows(nent, pw) - 2) * 1.15 : 0
# Explicit tics at the positions in a string of numbers ('' = automatic).
set_xtics = "if (words(xtics_vals) > 0) { set xtics (real(word(xtics_vals, 1))); do for [xi=2:words(xtics_vals)] { set xtics add (real(word(xtics_vals, xi))) } } else { set xtics autofreq }"
