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

term_cmd(f) = (f eq 'pdf') ? \
	sprintf("set terminal pdfcairo noenhanced color fontscale 1 size %.2fin,%.2fin font 'Helvetica,%g' linewidth 1", pdf_w, pdf_h, pdf_font) : \
	(f eq 'png') ? \
	sprintf("set terminal pngcairo noenhanced color size %d,%d font 'Helvetica,%g' linewidth 1.5", png_w, png_h, png_font) : \
	(f eq 'svg') ? \
	sprintf("set terminal svg noenhanced size %d,%d font 'Helvetica,%g' linewidth 1.5 background '#ffffff'", png_w, png_h, png_font) : \
	sprintf("set terminal cairolatex pdf input color size %.2fin,%.2fin", pdf_w, pdf_h)
# The output file; cairolatex writes NAME_latex.tex and its graphics NAME_latex.pdf.
out_name(f) = (f eq 'tex') ? name . '_latex.tex' : name . '.' . f
# A text in the current format: LaTeX-escaped for cairolatex.
tx(s, s_tex) = (fmt eq 'tex') ? s_tex : s
# gnuplot's own estimates of a character's width and a line's height (they
# decide key columns and row spacing), as fractions of the canvas.
hchar(f) = (f eq 'png') ? 0.770 * png_font / png_w : (f eq 'svg') ? 0.700 * png_font / png_w : \
	(f eq 'pdf') ? 0.744 * pdf_font / (pdf_w * 72) : 5.62 / (pdf_w * 72)
vchar(f) = (f eq 'png') ? 1.335 * png_font / png_h : (f eq 'svg') ? 1.50 * png_font / png_h : \
	(f eq 'pdf') ? 1.338 * pdf_font / (pdf_h * 72) : 10.28 / (pdf_h * 72)
text_w(n) = n * hchar(fmt)
line_h(n) = n * vchar(fmt)
# Width of n characters as actually drawn (tic label margins); LaTeX: 9pt.
glyph_w(n) = (fmt eq 'png' || fmt eq 'svg') ? n * 0.64 * png_font / png_w : \
	n * 0.66 * ((fmt eq 'pdf') ? pdf_font : 9) / (pdf_w * 72)
# Markers: the PDF is viewed at its printed size, the bitmaps on a screen.
psz(f) = (f eq 'png' || f eq 'svg') ? 1.0 : 0.55
clamp(v, lo, hi) = v < lo ? lo : v > hi ? hi : v
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
# A horizontal key below a plot area of width pw (fraction of the canvas):
# the width adjustment that makes an entry fit (drawn glyphs are narrower
# than gnuplot's estimate, LaTeX markup is not drawn at all), the columns,
# rows and height of nent entries.
key_adj(pw) = clamp(floor(pw / hchar(fmt)) - kw_est(fmt) - 7.5, \
	-(kw_est(fmt) - kw_shown(fmt)) - 0.25 * kw_shown(fmt), 1)
key_cols(nent, pw) = clamp(int(pw / text_w(kw_est(fmt) + key_adj(pw) + 7.5)), 1, nent)
key_rows(nent, pw) = int(ceil(1.0 * nent / key_cols(nent, pw)))
key_h(nent, pw) = line_h(key_rows(nent, pw) * 1.15 + 0.5)
# Explicit tics at the positions in a string of numbers ('' = automatic).
set_xtics = "if (words(xtics_vals) > 0) { set xtics (real(word(xtics_vals, 1))); do for [xi=2:words(xtics_vals)] { set xtics add (real(word(xtics_vals, xi))) } } else { set xtics autofreq }"
