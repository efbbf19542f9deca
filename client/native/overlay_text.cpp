#include "client/native/overlay_text.hpp"

#include <cctype>
#include <vector>

namespace portico::client {

namespace {

// 3x5 glyphs, rows top to bottom, '#' = lit.
struct Def {
    char c;
    const char* rows;  // 15 characters
};
// clang-format off
constexpr Def kFont[] = {
    {'0', "####.##.##.####"}, {'1', ".#.##..#..#.###"}, {'2', "###..#####..###"}, {'3', "###..####..####"},
    {'4', "#.##.####..#..#"}, {'5', "####..###..####"}, {'6', "####..####.####"}, {'7', "###..#..#..#..#"},
    {'8', "####.#####.####"}, {'9', "####.####..####"}, {'A', ".#.#.#####.##.#"}, {'B', "##.#.###.#.###."},
    {'C', "####..#..#..###"}, {'D', "##.#.##.##.###."}, {'E', "####..####..###"}, {'F', "####..####..#.."},
    {'G', "####..#.##.####"}, {'H', "#.##.#####.##.#"}, {'I', "###.#..#..#.###"}, {'J', "..#..#..##.####"},
    {'K', "#.##.###.#.##.#"}, {'L', "#..#..#..#..###"}, {'M', "#.########.##.#"}, {'N', "##.#.##.##.##.#"},
    {'O', "####.##.##.####"}, {'P', "####.#####..#.."}, {'Q', "####.##.####..#"}, {'R', "##.#.###.#.##.#"},
    {'S', "####..###..####"}, {'T', "###.#..#..#..#."}, {'U', "#.##.##.##.####"}, {'V', "#.##.##.##.#.#."},
    {'W', "#.##.########.#"}, {'X', "#.##.#.#.#.##.#"}, {'Y', "#.##.#.#..#..#."}, {'Z', "###..#.#.#..###"},
    {'.', ".............#."}, {':', "....#.....#...."}, {'/', "..#..#.#.#..#.."}, {'-', "......###......"},
    {'%', "#.#..#.#.#..#.#"}, {'(', ".#.#..#..#...#."}, {')', ".#...#..#..#.#."}, {'=', "...###...###..."},
    {'x', "...#.#.#.#.#..."},
};
// clang-format on

}  // namespace

Glyph glyph(char c) {
    const char want = c == 'x' ? 'x' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (const auto& d : kFont) {
        if (d.c != want) continue;
        Glyph g{};
        for (int i = 0; i < 15 && d.rows[i]; ++i)
            if (d.rows[i] == '#') g.rows[i / 3] = static_cast<unsigned char>(g.rows[i / 3] | (4 >> (i % 3)));
        return g;
    }
    return Glyph{};
}

int draw_text(SDL_Renderer* r, int x, int y, int scale, std::string_view text) {
    std::vector<SDL_Rect> px;
    int cx = x;
    for (char c : text) {
        const Glyph g = glyph(c);
        for (int row = 0; row < 5; ++row)
            for (int col = 0; col < 3; ++col)
                if (g.rows[row] & (4 >> col)) px.push_back({cx + col * scale, y + row * scale, scale, scale});
        cx += 4 * scale;
    }
    if (!px.empty()) SDL_RenderFillRects(r, px.data(), static_cast<int>(px.size()));
    return cx - x;
}

}  // namespace portico::client
