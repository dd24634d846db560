# heatmap.gp - attack success rate for every scheme (rows) and attack setting
# (columns); each cell prints the rate (fraction of seeds where the attack
# kept accuracy within 5 points and the watermark was not detected).
#
# Needs: fig_title, ncols, nrows, col_w, col_w_pdf, row_w, row_w_pdf (longest
#   labels in characters), col_label[], row_label[], with _pdf and _tex twins.
# Data: column index, row index (from 0), success rate, seeds.
C(i) = pick(col_label[i], col_label_pdf[i], col_label_tex[i])
R(i) = pick(row_label[i], row_label_pdf[i], row_label_tex[i])
CW(f) = (f eq 'png' || f eq 'svg') ? col_w : col_w_pdf
RW(f) = (f eq 'png' || f eq 'svg') ? row_w : row_w_pdf

do for [fmt in formats] {
	eval term_cmd(fmt)
	set output out_name(fmt)
	# the colour box only where there is room; the cells print the rates
	box = (fmt eq 'png' || fmt eq 'svg')
	set lmargin at screen clamp(glyph_w(RW(fmt) + 2), 0.1, 0.45)
	set rmargin at screen 1 - (box ? glyph_w(22) : glyph_w(1))
	# column names are rotated by 30 degrees
	set bmargin at screen clamp(glyph_w(CW(fmt) + 2) * 0.5 * aspect(fmt) + line_h(2), 0.12, 0.5)
	set tmargin at screen 1 - line_h(2.2)
	# the title centred on the canvas, not over the cells
	set multiplot title pick(fig_title, fig_title_pdf, fig_title_tex)
	set border 0
	set tics scale 0
	set xrange [-0.5:ncols - 0.5]
	set yrange [nrows - 0.5:-0.5]
	# column names as rotated labels under the cells (not tic labels, whose
	# room gnuplot estimates as if they extended to the right)
	unset xtics
	unset label
	do for [i=1:ncols] {
		set label 100 + i C(i) at first i - 1, graph 0 rotate by 30 right \
			offset character 0.6, character -0.9
	}
	set ytics (R(1) 0)
	do for [i=2:nrows] { set ytics add (R(i) i - 1) }
	set cbrange [0:1]
	set cbtics 0.25 scale 0.5
	set cblabel tx('success rate (fraction of seeds)', 'success rate (fraction of seeds)')
	if (box) { set colorbox } else { unset colorbox }
	# viridis: colour-blind safe, readable in greyscale
	set palette defined (0 '#440154', 0.25 '#3B528B', 0.5 '#21918C', 0.75 '#5EC962', 1 '#FDE725')
	unset key
	plot datafile using 1:2:(0.5):(0.5):3 with boxxyerror fs solid 1.0 border lc rgb '#ffffff' \
		fc palette, \
	     '' using 1:2:(sprintf('%.2f', $3)):($3 < 0.5 ? 0xffffff : 0x000000) \
		with labels tc rgb variable font sprintf(',%g', box ? png_font - 1 : pdf_font - 1)
	unset multiplot
	set output
}
