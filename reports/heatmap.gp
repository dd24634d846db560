# heatmap.gp - attack success rate for every scheme (rows) and attack setting
# (columns); each cell prints the rate (fraction of seeds where the attack
# removed or forged a mark and kept accuracy within 5 points). Degenerate
# settings (the unmarked model loses 5 points or more) are hatched.
#
# Needs: fig_title, ncols, nrows, col_w, col_w_pdf, row_w, row_w_pdf (longest
#   labels in characters), col_label[], row_label[], with _pdf and _tex twins,
#   has_deg (some cell is degenerate).
# Data: column index, row index (from 0), success rate, seeds, degenerate.
# Row names cut to the room beside the cells; column names, slanted by
# slant radians, cut to the room below the cells and left of their column.
R(i) = cut_mid(pick(row_label[i], row_label_pdf[i], row_label_tex[i]), name_room - text_w(2))
col_room(i) = (lmx + (i - 0.5) * (rmx - lmx) / ncols) / cos(slant) - text_w(1)
col_below(d) = (0.5 - line_h(2)) / (sin(slant) * aspect(fmt)) - text_w(2)
C(i) = cut_mid(pick(col_label[i], col_label_pdf[i], col_label_tex[i]), \
	col_room(i) < col_below(0) ? col_room(i) : col_below(0))
# 30 degrees, or steeper where the cells are too narrow: neighbouring column
# names are parallel lines a cell width times sin(slant) apart, which must
# hold a line of text.
slant_of(cw) = asin(clamp(1.1 * vchar(fmt) / (cw * aspect(fmt)), 0.5, 1))
CW(f) = (f eq 'png' || f eq 'svg') ? col_w : col_w_pdf
RW(f) = (f eq 'png' || f eq 'svg') ? row_w : row_w_pdf

do for [fmt in formats] {
	eval term_cmd(fmt)
	set output out_name(fmt)
	# the colour box only where there is room; the cells print the rates
	box = (fmt eq 'png' || fmt eq 'svg')
	row_cells = 0
	col_cells = 0
	do for [i=1:nrows] { row_cells = max2(row_cells, text_cells(R(i))) }
	lmx = (fmt eq 'tex') ? clamp(glyph_w(RW(fmt) + 2), 0.1, name_room) : \
		clamp(text_w(row_cells + 2), 0.1, name_room)
	rmx = 1 - (box ? glyph_w(22) : glyph_w(1))
	set lmargin at screen lmx
	set rmargin at screen rmx
	# the rates ('0.00') in a font that fits the cells: one size smaller
	# than the text, or smaller still where the cells are narrow
	cell_font = (box ? png_font : pdf_font) * \
		clamp((rmx - lmx) / ncols / text_cells('0.00 ') / hchar(fmt), 0.4, 0.9)
	# column names slanted
	slant = slant_of((rmx - lmx) / ncols)
	do for [i=1:ncols] { col_cells = max2(col_cells, text_cells(C(i))) }
	set bmargin at screen clamp(((fmt eq 'tex') ? glyph_w(CW(fmt) + 2) : text_w(col_cells + 2)) \
		* sin(slant) * aspect(fmt) + line_h(2), 0.12, 0.5)
	set tmargin at screen 1 - line_h(2.2)
	# the title centred on the canvas, not over the cells
	set multiplot title title_cut(fig_title, fig_title_pdf, fig_title_tex)
	set border 0
	set tics scale 0
	set xrange [-0.5:ncols - 0.5]
	set yrange [nrows - 0.5:-0.5]
	# column names as rotated labels under the cells (not tic labels, whose
	# room gnuplot estimates as if they extended to the right)
	unset xtics
	unset label
	do for [i=1:ncols] {
		set label 100 + i C(i) at first i - 1, graph 0 rotate by slant * 180 / pi right \
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
	if (has_deg) {
		plot datafile using 1:2:(0.5):(0.5):3 with boxxyerror fs solid 1.0 border \
			lc rgb '#ffffff' fc palette, \
		     '' using 1:($5 == 1 ? $2 : NaN):(0.5):(0.5) with boxxyerror \
			fs transparent pattern 5 noborder lc rgb '#9a9a9a', \
		     '' using 1:2:(sprintf('%.2f', $3)):($3 < 0.5 ? 0xffffff : 0x000000) \
			with labels tc rgb variable font sprintf(',%.2f', cell_font)
	} else {
		plot datafile using 1:2:(0.5):(0.5):3 with boxxyerror fs solid 1.0 border \
			lc rgb '#ffffff' fc palette, \
		     '' using 1:2:(sprintf('%.2f', $3)):($3 < 0.5 ? 0xffffff : 0x000000) \
			with labels tc rgb variable font sprintf(',%.2f', cell_font)
	}
	unset multiplot
	set output
}
