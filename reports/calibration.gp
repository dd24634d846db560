# calibration.gp - the null p-values of calibration against the uniform:
# the empirical CDF of each scheme setting's null trials (unmarked models,
# fresh keys), on log axes, one panel per scheme, and the diagonal a valid
# test lies on or under. One key below the panels names every line.
#
# Needs: fig_title, diag_note, pmin (lower end of both axes), npanels, ncols,
#   nrows, panel_title[] (with _pdf and _tex twins), panel_lines[] (the line
#   numbers of each panel, as words), nlines, key_w, key_w_pdf, key_w_tex,
#   lt_title[], lt_color[], lt_pt[], lt_dt[], with _pdf and _tex twins.
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
	# panel grid between the title and the key; the gaps hold the x labels,
	# the panel titles and (between columns) the y tic labels
	top = 1 - line_h(2.2)
	bot = kh + line_h(3)
	gx = (ncols > 1) ? left_margin(6) - 0.02 : 0
	gy = line_h(4.2)
	pw = (rm - lm - (ncols - 1) * gx) / ncols
	ph = (top - bot - (nrows - 1) * gy) / nrows
	set multiplot title title_cut(fig_title, fig_title_pdf, fig_title_tex)
	set grid back lc rgb '#dddddd' lw 0.5
	set border 3 back
	set xtics nomirror out scale 0.6
	set ytics nomirror out scale 0.6
	set logscale xy
	set xrange [pmin:1]
	set yrange [pmin:1]
	set format x '%g'
	set format y '%g'
	# at most 4 x tics: narrow panels have no room for one per decade
	set xtics 10**ceil(-log10(pmin) / 3.0)
	do for [p=1:npanels] {
		c = (p - 1) % ncols
		r = (p - 1) / ncols
		x0 = lm + c * (pw + gx)
		y1 = top - r * (ph + gy)
		set lmargin at screen x0
		set rmargin at screen x0 + pw
		set tmargin at screen y1 - line_h(1.4)
		set bmargin at screen y1 - ph
		set title cut(pick(panel_title[p], panel_title_pdf[p], panel_title_tex[p]), 2 * pw) offset 0, -0.6
		set xlabel cut(tx('p-value x', 'p-value $x$'), 2 * pw) offset 0, 0.4
		if (c == 0) {
			set ylabel ylabel_cut('fraction of null trials with p <= x', 'fraction with p <= x', \
				'fraction with $p \le x$', ph - line_h(1.4))
		} else {
			unset ylabel
		}
		unset key
		plot for [s in panel_lines[p]] datafile index (int(s) - 1) using 1:2 \
			with steps lc rgb lt_color[int(s)] dt lt_dt[int(s)] lw 1.5 notitle, \
		     x with lines lc rgb '#000000' dt (6, 4) lw 1 notitle
	}
	# the key of every panel, in a plot as wide as the figure whose only
	# line lies outside its axes
	set lmargin at screen lm
	set rmargin at screen rm
	set bmargin at screen 0.002
	set tmargin at screen kh
	unset title
	unset xlabel
	unset ylabel
	unset grid
	unset border
	unset xtics
	unset ytics
	unset logscale xy
	set xrange [0:1]
	set yrange [2:3]
	set key at screen 0.5, screen 0 center bottom horizontal Left reverse \
		maxcols key_cols(nent, rm - lm) samplen 2.5 spacing 1.15 width key_adj(rm - lm)
	plot for [i=1:nlines] keyentry with steps lc rgb lt_color[i] dt lt_dt[i] lw 1.5 \
		title T(i), \
	     x with lines lc rgb '#000000' dt (6, 4) lw 1 \
		title key_title(diag_note, diag_note_pdf, diag_note_tex, rm - lm)
	unset multiplot
	set output
}
