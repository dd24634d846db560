# robustness.gp - watermark metric (top) and test accuracy (bottom) against the
# strength of one attack: one line per scheme, mean +- sd over seeds.
#
# Needs: fig_title, xlabel, ylabel, logx, xtics_vals, the y axes m_min,
#   m_max, m_step (metric), acc_min, acc_max, acc_step, ytic_w (widest y tic
#   label in characters), nlines,
#   metric_lines and acc_lines (the line numbers with data in each panel, as
#   words), key_w, key_w_pdf, key_w_tex (longest key entries), thr_title,
#   lt_title[], lt_title_pdf[], lt_color[], lt_pt[], lt_dt[], lt_thr[] (NaN: no threshold),
#   deg_metric_lines and deg_acc_lines (lines with a degenerate point in each
#   panel), deg_note, with _pdf and _tex twins of the texts for cairolatex.
# Data: block i-1 is line i; columns: attack parameter, metric mean, metric sd,
#   test accuracy mean (%), its sd (%), seeds, degenerate (1: the unmarked
#   model loses 5 points or more there; the point is ringed).
T(i) = key_title(lt_title[i], lt_title_pdf[i], lt_title_tex[i], rm - lm)
in_list(i, list) = strstrt(' ' . list . ' ', sprintf(' %d ', i)) > 0
thr_lines = ''
do for [i=1:nlines] { if (lt_thr[i] == lt_thr[i]) { thr_lines = thr_lines . sprintf(' %d', i) } }
thr_key = (words(thr_lines) > 0) ? '1' : ''
deg_key = (words(deg_metric_lines . ' ' . deg_acc_lines) > 0) ? '1' : ''
plain_lines = ''
do for [i=1:nlines] { if (!in_list(i, metric_lines)) { plain_lines = plain_lines . sprintf(' %d', i) } }
nent = nlines + words(thr_key) + words(deg_key)
# a ring around the points of degenerate settings
DEG(c) = (c == 1) ? 1 : NaN

do for [fmt in formats] {
	lm = left_margin(ytic_w + 1)
	rm = 0.97
	array key_more[2]
	key_nmore = 0
	if (words(thr_key) > 0) {
		key_nmore = key_nmore + 1
		key_more[key_nmore] = key_title(thr_title, thr_title_pdf, thr_title_tex, rm - lm)
	}
	if (words(deg_key) > 0) {
		key_nmore = key_nmore + 1
		key_more[key_nmore] = key_title(deg_note, deg_note_pdf, deg_note_tex, rm - lm)
	}
	eval key_measure
	eval grow_canvas(key_grow(nent, rm - lm))
	eval term_cmd(fmt)
	set output out_name(fmt)
	kh = key_h(nent, rm - lm)
	ph = (1 - line_h(2.2) - kh - line_h(3) - line_h(1.6)) / 2
	set multiplot layout 2,1 title title_cut(fig_title, fig_title_pdf, fig_title_tex) \
		margins lm, rm, kh + line_h(3), 1 - line_h(2.2) spacing 0.1, line_h(1.6)
	set grid back lc rgb '#dddddd' lw 0.5
	set border 3 back
	set tics nomirror out scale 0.6
	if (logx) { set logscale x } else { unset logscale x }
	eval set_xtics
	set offsets graph 0.03, graph 0.03, 0, 0

	# top: the watermark metric; it draws the key for both panels, below them
	set key at screen 0.5, screen 0 center bottom horizontal Left reverse \
		maxcols key_cols(nent, rm - lm) samplen 2.5 spacing 1.15 width key_adj(rm - lm)
	set format x ''
	unset xlabel
	set ylabel ylabel_cut(ylabel, ylabel_pdf, ylabel_tex, ph + line_h(1.4))
	set yrange [m_min:m_max]
	set ytics m_step
	unset arrow
	do for [s in thr_lines] {
		i = int(s)
		set arrow i from graph 0, first lt_thr[i] to graph 1, first lt_thr[i] nohead \
			back lc rgb lt_color[i] dt (6, 4) lw 1
	}
	plot for [s in metric_lines] datafile index (int(s) - 1) using 1:2:3 \
		with yerrorlines lc rgb lt_color[int(s)] dt lt_dt[int(s)] pt lt_pt[int(s)] \
		ps 0.8 * psz(fmt) lw 1.5 title T(int(s)), \
	     for [s in plain_lines] keyentry with linespoints lc rgb lt_color[int(s)] \
		dt lt_dt[int(s)] pt lt_pt[int(s)] ps 0.8 * psz(fmt) lw 1.5 title T(int(s)), \
	     for [s in thr_key] keyentry with lines lc rgb '#000000' dt (6, 4) lw 1 \
		title key_title(thr_title, thr_title_pdf, thr_title_tex, rm - lm), \
	     for [s in deg_metric_lines] datafile index (wi(s) - 1) using 1:($2 * DEG($7)) \
		with points lc rgb '#555555' pt 6 ps 1.9 * psz(fmt) lw 1 notitle, \
	     for [s in deg_key] keyentry with points lc rgb '#555555' pt 6 ps 1.9 * psz(fmt) \
		lw 1 title key_title(deg_note, deg_note_pdf, deg_note_tex, rm - lm)
	unset arrow

	# bottom: test accuracy after the attack
	unset key
	set format x '% h'
	set xlabel cut(pick(xlabel, xlabel_pdf, xlabel_tex), 2 * (0.98 - (lm + rm) / 2))
	set ylabel ylabel_cut('test accuracy (%)', 'test accuracy (%)', 'test accuracy (\%)', ph + line_h(1.4))
	set yrange [acc_min:acc_max]
	set ytics acc_step
	plot for [s in acc_lines] datafile index (int(s) - 1) using 1:4:5 \
		with yerrorlines lc rgb lt_color[int(s)] dt lt_dt[int(s)] pt lt_pt[int(s)] \
		ps 0.8 * psz(fmt) lw 1.5 notitle, \
	     for [s in deg_acc_lines] datafile index (wi(s) - 1) using 1:($4 * DEG($7)) \
		with points lc rgb '#555555' pt 6 ps 1.9 * psz(fmt) lw 1 notitle
	unset multiplot
	set output
}
