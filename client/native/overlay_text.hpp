#pragma once
// The stats overlay's lettering: a 3x5 pixel font of digits, capital letters and a little
// punctuation, drawn as filled rectangles, so the client needs no font library. Lower-case text
// is drawn in capitals; characters the font lacks are blanks. Window thread.

#include <SDL_render.h>

#include <string_view>

namespace portico::client {

// The glyph's five rows, three bits each (bit 2 = left column); all zero for a blank.
struct Glyph {
    unsigned char rows[5];
};
Glyph glyph(char c);

// Draws text with its top-left at (x, y), each font pixel scale x scale output pixels, in the
// renderer's current draw colour. Returns the width drawn.
int draw_text(SDL_Renderer* r, int x, int y, int scale, std::string_view text);

// Width in output pixels of text at scale (4 font pixels per character, the last one's gap included).
inline int text_width(std::string_view text, int scale) { return static_cast<int>(text.size()) * 4 * scale; }

}  // namespace portico::client
