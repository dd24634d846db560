# tradeoff.gp - every attack setting as one point: test accuracy lost (x)
# against the watermark retained (y), mean over seeds; the shaded corner is
# where an attack succeeds (under 5 points lost and the watermark not detected).
#
# Needs: fig_title, ylabel, xmin, xmax, ymin, ymax, thr_y (retained value
#   below which the watermark is not detected; NaN: unknown), thr_note,
#   nlines, key_w, key_w_pdf, key_w_tex, lt_title[], lt_title_pdf[],
#   lt_color[], lt_pt[], deg_lines (lines with a degenerate point), deg_note,
#   with _pdf and _tex twins.
# Data: block i-1 is line i; columns: accuracy lost (points), retained, seeds,
#   degenerate (1: the unmarked model loses 5 points or more; ringed).
T(i) = key_title(lt_title[i], lt_title_pdf[i], lt_title_tex[i], rm - lm)
lost_max = 5
deg_key = (words(deg_lines) > 0) ? '1' : ''
nent = nlines + 1 + words(deg_key)
DEG(c) = (c == 1) ? 1 : NaN

do for [fmt in formats] {
	lm = left_margin(5)
	rm = 0.97
	array key_more[2]
	key_more[1] = key_title(thr_note, thr_note_pdf, thr_note_tex, rm - lm)
	key_more[2] = key_title(deg_note, deg_note_pdf, deg_note_tex, rm - lm)
	key_nmore = 1 + words(deg_key)
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
	set xrange [xmin:xmax]
	set yrange [ymin:ymax]
	set xlabel cut(tx('test accuracy lost (percentage points)', 'test accuracy lost (percentage points)'), 2 * (0.98 - (lm + rm) / 2))
	set ylabel ylabel_cut(ylabel, ylabel_pdf, ylabel_tex, 1 - line_h(5.2) - kh)
	set key at screen 0.5, screen 0 center bottom horizontal Left reverse \
		maxcols key_cols(nent, rm - lm) samplen 2.5 spacing 1.15 width key_adj(rm - lm)
	unset object
	unset label
	unset arrow
	if (thr_y == thr_y) {
		set object 1 rect from first xmin, first ymin to first lost_max, first thr_y \
			behind fc rgb '#D55E00' fs transparent solid 0.12 noborder
		set label 1 tx('attack succeeds', 'attack succeeds') at first xmin, first ymin \
			offset 0.6, 0.8 left front tc rgb '#A04000'
		set arrow 2 from first xmin, first thr_y to first xmax, first thr_y nohead back \
			lc rgb '#777777' dt (6, 4) lw 1
	}
	set arrow 1 from first lost_max, first ymin to first lost_max, first ymax nohead back \
		lc rgb '#777777' dt (6, 4) lw 1
	plot for [i=1:nlines] datafile index (i - 1) using 1:2 with points \
		lc rgb lt_color[i] pt lt_pt[i] ps 1.1 * psz(fmt) title T(i), \
	     keyentry with lines lc rgb '#777777' dt (6, 4) lw 1 title key_title(thr_note, thr_note_pdf, thr_note_tex, rm - lm), \
	     for [s in deg_lines] datafile index (wi(s) - 1) using 1:($2 * DEG($4)) with points \
		lc rgb '#555555' pt 6 ps 2.2 * psz(fmt) lw 1 notitle, \
	     for [s in deg_key] keyentry with points lc rgb '#555555' pt 6 ps 2.2 * psz(fmt) lw 1 \
		title key_title(deg_note, deg_note_pdf, deg_note_tex, rm - lm)
	set output
}
