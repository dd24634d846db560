# capacity.gp - multi-bit schemes at several capacities: BER right after
# embedding (top) and the accuracy cost of embedding (bottom) against the
# number of embedded bits; mean +- sd over seeds.
#
# Needs: fig_title, nlines, key_w, key_w_pdf, key_w_tex, logx, xtics_vals,
#   the y axes ber_min, ber_max, ber_step, cost_min, cost_max, cost_step,
#   ytic_w (widest y tic label in characters), lt_title[], lt_title_pdf[], lt_color[],
#   lt_pt[], lt_dt[], with _pdf and _tex twins.
# Data: block i-1 is line i; columns: bits, BER mean, BER sd,
#   accuracy cost mean (points), its sd, seeds.
T(i) = key_title(lt_title[i], lt_title_pdf[i], lt_title_tex[i], rm - lm)

do for [fmt in formats] {
	lm = left_margin(ytic_w + 3)
	rm = 0.97
	array key_more[1]
	key_more[1] = ""
	key_nmore = 0
	eval key_measure
	eval grow_canvas(key_grow(nlines, rm - lm))
	eval term_cmd(fmt)
	set output out_name(fmt)
	kh = key_h(nlines, rm - lm)
	ph = (1 - line_h(2.2) - kh - line_h(3) - line_h(1.6)) / 2
	set multiplot layout 2,1 title title_cut(fig_title, fig_title_pdf, fig_title_tex) \
		margins lm, rm, kh + line_h(3), 1 - line_h(2.2) spacing 0.1, line_h(1.6)
	set grid back lc rgb '#dddddd' lw 0.5
	set border 3 back
	set tics nomirror out scale 0.6
	if (logx) { set logscale x 2 } else { unset logscale x }
	eval set_xtics
	set offsets graph 0.03, graph 0.03, 0, 0

	set key at screen 0.5, screen 0 center bottom horizontal Left reverse \
		maxcols key_cols(nlines, rm - lm) samplen 2.5 spacing 1.15 width key_adj(rm - lm)
	set format x ''
	unset xlabel
	set ylabel ylabel_cut('BER after embedding', 'BER', 'BER', ph + line_h(1.4))
	set yrange [ber_min:ber_max]
	set ytics ber_step
	plot for [i=1:nlines] datafile index (i - 1) using 1:2:3 with yerrorlines \
		lc rgb lt_color[i] dt lt_dt[i] pt lt_pt[i] ps 0.8 * psz(fmt) lw 1.5 title T(i)

	unset key
	set format x '% h'
	set xlabel cut(tx('watermark capacity (bits)', 'watermark capacity (bits)'), 2 * (0.98 - (lm + rm) / 2))
	set ylabel ylabel_cut('accuracy cost (points)', 'accuracy cost (points)', 'accuracy cost (points)', ph + line_h(1.4))
	set yrange [cost_min:cost_max]
	set ytics cost_step
	set xzeroaxis lc rgb '#777777' lw 1
	plot for [i=1:nlines] datafile index (i - 1) using 1:4:5 with yerrorlines \
		lc rgb lt_color[i] dt lt_dt[i] pt lt_pt[i] ps 0.8 * psz(fmt) lw 1.5 notitle
	unset xzeroaxis
	unset multiplot
	set output
}
