# cost.gp - the cost of embedding per scheme: test accuracy lost against the
# clean model of the same seed (left) and training time relative to clean
# training (right); mean +- sd over seeds.
#
# Needs: fig_title, time_label (and _pdf, _tex: the right panel's axis), nbars, bar_w, bar_w_pdf (longest labels in characters),
#   time_bars (the bars with a training-time ratio, as words), the axis
#   ranges and tic steps cost_min, cost_max, cost_step, time_max, time_step,
#   bar_label[], bar_color[], with _pdf and _tex twins.
# Data: block i-1 is bar i; columns: row (from 0), accuracy cost mean
#   (points), its sd, time ratio mean, its sd, seeds.
B(i) = cut_mid(pick(bar_label[i], bar_label_pdf[i], bar_label_tex[i]), name_room - text_w(3))
BW(f) = (f eq 'png' || f eq 'svg') ? bar_w : bar_w_pdf
h = 0.35

do for [fmt in formats] {
	eval term_cmd(fmt)
	set output out_name(fmt)
	# side by side on a screen; stacked at column width
	stacked = !(fmt eq 'png' || fmt eq 'svg')
	bar_cells = 0
	do for [i=1:nbars] { bar_cells = max2(bar_cells, text_cells(B(i))) }
	lm = (fmt eq 'tex') ? clamp(glyph_w(BW(fmt) + 3), 0.1, name_room) : \
		clamp(text_w(bar_cells + 3), 0.1, name_room)
	set multiplot layout (stacked ? 2 : 1), (!stacked && strlen(time_bars) > 0 ? 2 : 1) \
		title title_cut(fig_title, fig_title_pdf, fig_title_tex) \
		margins lm, 0.97, line_h(3.8), 1 - line_h(2.2) spacing 0.04, line_h(4)
	set grid x back lc rgb '#dddddd' lw 0.5
	set border 3 back
	set tics nomirror out scale 0.6
	set yrange [nbars - 0.5:-0.5]
	set ytics (B(1) 0)
	do for [i=2:nbars] { set ytics add (B(i) i - 1) }
	set style fill solid 0.85 border lc rgb '#333333'
	unset key
	set yzeroaxis lt -1 lw 1
	set xrange [cost_min:cost_max]
	set xtics cost_step
	set xlabel cut(tx('accuracy cost (points)', 'accuracy cost (points)'), 0.97 - lm)
	plot for [i=1:nbars] datafile index (i - 1) using 2:1:(0):2:($1 - h):($1 + h) \
		with boxxyerror lc rgb bar_color[i], \
	     for [i=1:nbars] datafile index (i - 1) using 2:1:3 with xerrorbars \
		pt 0 lc rgb '#000000' lw 1
	unset yzeroaxis
	if (strlen(time_bars) > 0) {
		if (!stacked) {
			set ytics (' ' 0)
			do for [i=2:nbars] { set ytics add (' ' i - 1) }
		}
		set xlabel cut(tx(time_label, time_label_tex), stacked ? 0.97 - lm : (0.97 - lm) / 2)
		set arrow 1 from first 1, graph 0 to first 1, graph 1 nohead back lc rgb '#777777' dt (6, 4)
		set xrange [0:time_max]
		set xtics 0, time_step
		plot for [s in time_bars] datafile index (int(s) - 1) \
			using 4:1:(0):4:($1 - h):($1 + h) with boxxyerror lc rgb bar_color[int(s)], \
		     for [s in time_bars] datafile index (int(s) - 1) using 4:1:5 with xerrorbars \
			pt 0 lc rgb '#000000' lw 1
		unset arrow 1
	}
	unset multiplot
	set output
}
