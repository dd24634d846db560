# calibration.gp - the null p-values of calibration against the uniform:
# the empirical CDF of each scheme setting's null trials (unmarked models,
# fresh keys), on log axes, and the diagonal a valid test lies on or under.
#
# Needs: fig_title, diag_note, pmin (lower end of both axes), nlines, key_w,
#   key_w_pdf, key_w_tex, lt_title[], lt_color[], lt_pt[], lt_dt[], with
#   _pdf and _tex twins.
# Data: block i-1 is line i; columns: p-value, fraction of trials at most it.
T(i) = key_title(lt_title[i], lt_title_pdf[i], lt_title_tex[i], rm - lm)
nent = nlines + 1

do for [fmt in formats] {
	lm = left_margin(6)
	rm = 0.97
	array key_more[1]
	key_more[1] = key_title(diag_note, diag_note_pdf, diag_note_tex, rm - lm)
	key_nmore = 1
	eval key_measure
	eval grow_canvas(key_grow(nent, rm - lm))
	eval term_cmd(fmt)
	set output out_name(fmt)
	kh = key_h(nent, rm - lm)
	set lmargin at screen lm
	set rmargin at screen rm
	set bmargin at screen kh + line_h(3)
	set tmargin at screen 1 - line_h(2.2)
	# the title is centred on the plot area
	set title cut(pick(fig_title, fig_title_pdf, fig_title_tex), 2 * (0.98 - (lm + rm) / 2))
	set grid back lc rgb '#dddddd' lw 0.5
	set border 3 back
	set tics nomirror out scale 0.6
	set logscale xy
	set xrange [pmin:1]
	set yrange [pmin:1]
	set format x '%g'
	set format y '%g'
	set xlabel cut(tx('p-value x', 'p-value $x$'), 2 * (0.98 - (lm + rm) / 2))
	set ylabel ylabel_cut('fraction of null trials with p <= x', 'fraction with p <= x', \
		'fraction with $p \le x$', 1 - line_h(5.2) - kh)
	set key at screen 0.5, screen 0 center bottom horizontal Left reverse \
		maxcols key_cols(nent, rm - lm) samplen 2.5 spacing 1.15 width key_adj(rm - lm)
	plot for [i=1:nlines] datafile index (i - 1) using 1:2 with steps \
		lc rgb lt_color[i] dt lt_dt[i] lw 1.5 title T(i), \
	     x with lines lc rgb '#000000' dt (6, 4) lw 1 \
		title key_title(diag_note, diag_note_pdf, diag_note_tex, rm - lm)
	set output
}
