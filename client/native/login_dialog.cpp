#include "client/native/login_dialog.hpp"

#include "client/native/secret.hpp"

#include <SDL.h>
#include <SDL_ttf.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <tuple>

namespace portico::client {

namespace {

[[noreturn]] void failed(const char* what, const char* why) {
    throw std::runtime_error(std::string(what) + ": " + why);
}

// The layout, in points (multiplied by the scale into output pixels).
constexpr int kWidth = 480, kHeight = 270;
constexpr int kPad = 20;
constexpr int kLabelWidth = 110;
constexpr int kFieldHeight = 32;
constexpr int kFieldTop[2] = {64, 108};
constexpr int kMessageTop = 152;
constexpr int kButtonWidth = 100, kButtonHeight = 34, kButtonGap = 10;
constexpr int kTextPoints = 14, kHeadingPoints = 16;
// A field's longest text in bytes. The buffers are reserved at this size (and a text input
// event's worth more) once, so typing never reallocates and leaves no stray copy of a password.
constexpr std::size_t kMaxField = 256;

constexpr SDL_Color kBackground{0xf2, 0xf2, 0xf2, 0xff}, kInk{0x20, 0x20, 0x20, 0xff}, kMuted{0x60, 0x60, 0x60, 0xff},
    kFieldBg{0xff, 0xff, 0xff, 0xff}, kBorder{0x9a, 0x9a, 0x9a, 0xff}, kFocus{0x1f, 0x6f, 0xd0, 0xff},
    kError{0xb0, 0x00, 0x20, 0xff}, kOkBg{0x1f, 0x6f, 0xd0, 0xff}, kOkInk{0xff, 0xff, 0xff, 0xff},
    kCancelBg{0xdd, 0xdd, 0xdd, 0xff};

SDL_Rect field_rect(int i) { return {kPad + kLabelWidth, kFieldTop[i], kWidth - 2 * kPad - kLabelWidth, kFieldHeight}; }
SDL_Rect ok_rect() {
    return {kWidth - kPad - kButtonWidth, kHeight - kPad - kButtonHeight, kButtonWidth, kButtonHeight};
}
SDL_Rect cancel_rect() {
    return {kWidth - kPad - 2 * kButtonWidth - kButtonGap, kHeight - kPad - kButtonHeight, kButtonWidth, kButtonHeight};
}
bool inside(const SDL_Rect& r, int x, int y) { return x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h; }

// Draws UTF-8 text with its top left at (x, y) output pixels, wrapped at wrap pixels when not 0.
// Returns its size. Empty text draws nothing.
SDL_Point draw_text(SDL_Renderer* r, TTF_Font* font, const std::string& text, SDL_Color colour, int x, int y,
                    int wrap = 0) {
    if (text.empty()) return {0, 0};
    SDL_Surface* s = wrap > 0 ? TTF_RenderUTF8_Blended_Wrapped(font, text.c_str(), colour, static_cast<Uint32>(wrap))
                              : TTF_RenderUTF8_Blended(font, text.c_str(), colour);
    if (!s) return {0, 0};
    SDL_Point size{s->w, s->h};
    if (SDL_Texture* t = SDL_CreateTextureFromSurface(r, s)) {
        SDL_Rect dst{x, y, s->w, s->h};
        SDL_RenderCopy(r, t, nullptr, &dst);
        SDL_DestroyTexture(t);
    }
    SDL_FreeSurface(s);
    return size;
}

void fill(SDL_Renderer* r, const SDL_Rect& rect, SDL_Color c) {
    SDL_SetRenderDrawColor(r, c.r, c.g, c.b, c.a);
    SDL_RenderFillRect(r, &rect);
}

// A rectangle with a border `width` pixels wide.
void framed(SDL_Renderer* r, const SDL_Rect& rect, SDL_Color inside_colour, SDL_Color border, int width) {
    fill(r, rect, border);
    fill(r, {rect.x + width, rect.y + width, rect.w - 2 * width, rect.h - 2 * width}, inside_colour);
}

std::size_t characters(const std::string& utf8) {
    return static_cast<std::size_t>(
        std::count_if(utf8.begin(), utf8.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

}  // namespace

LoginDialog::LoginDialog(const std::string& broker, const std::string& user, const std::string& password,
                         std::optional<double> scale)
    : broker_(broker) {
    fields_[0].label = "User name";
    fields_[1].label = "Password";
    fields_[1].masked = true;
    for (auto& f : fields_) f.text.reserve(kMaxField + sizeof(SDL_TextInputEvent::text));
    fields_[0].text.assign(user, 0, kMaxField);
    fields_[1].text.assign(password, 0, kMaxField);
    focus_ = user.empty() ? 0 : 1;
    try {
        open(scale);
    } catch (...) {
        release();
        throw;
    }
}

void LoginDialog::open(std::optional<double> scale) {
    if (TTF_Init() != 0) failed("TTF_Init", TTF_GetError());
    ttf_ = true;
    const std::string title = kLoginDialogTitle + broker_;
    window_ = SDL_CreateWindow(title.c_str(), SDL_WINDOWPOS_CENTERED, SDL_WINDOWPOS_CENTERED, kWidth, kHeight,
                               SDL_WINDOW_ALLOW_HIGHDPI | SDL_WINDOW_HIDDEN);
    if (!window_) failed("SDL_CreateWindow", SDL_GetError());
    // A small still window: SDL's software renderer, not OpenGL, which would load Mesa (llvmpipe on
    // a machine without a GPU) for a few lines of text, and whose allocations outlive SDL_Quit.
    // The hint keeps the window's surface off OpenGL too; SDL reads it as the renderer takes the
    // surface, so it is put back afterwards and the session window makes its own choice.
    const char* accel = SDL_GetHint(SDL_HINT_FRAMEBUFFER_ACCELERATION);
    const std::string previous = accel ? accel : "";
    SDL_SetHint(SDL_HINT_FRAMEBUFFER_ACCELERATION, "0");
    renderer_ = SDL_CreateRenderer(window_, -1, SDL_RENDERER_SOFTWARE);
    if (accel)
        SDL_SetHint(SDL_HINT_FRAMEBUFFER_ACCELERATION, previous.c_str());
    else
        SDL_ResetHint(SDL_HINT_FRAMEBUFFER_ACCELERATION);
    if (!renderer_) failed("SDL_CreateRenderer", SDL_GetError());
    // The scale as the session window has it: SDL's pixel ratio where it reports one (Wayland,
    // macOS), else --scale, for which the window itself grows (X11 windows are in pixels).
    int out_w = kWidth, out_h = kHeight;
    SDL_GetRendererOutputSize(renderer_, &out_w, &out_h);
    const double ratio = static_cast<double>(out_w) / kWidth;
    if (ratio > 1.01) {
        scale_ = ratio;
    } else if (scale && *scale > 1.01) {
        scale_ = *scale;
        SDL_SetWindowSize(window_, static_cast<int>(std::lround(kWidth * scale_)),
                          static_cast<int>(std::lround(kHeight * scale_)));
        SDL_SetWindowPosition(window_, SDL_WINDOWPOS_CENTERED, SDL_WINDOWPOS_CENTERED);
    }
    font_ = TTF_OpenFont(kDialogFont, static_cast<int>(std::lround(kTextPoints * scale_)));
    bold_ = TTF_OpenFont(kDialogBoldFont, static_cast<int>(std::lround(kHeadingPoints * scale_)));
    if (!font_ || !bold_) failed("cannot load the dialog's font (Debian's fonts-dejavu-core)", TTF_GetError());
    SDL_ShowWindow(window_);
    SDL_RaiseWindow(window_);
    // Text input is SDL's default on the desktop and the session window relies on it: left as found.
    text_input_was_on_ = SDL_IsTextInputActive() == SDL_TRUE;
    SDL_StartTextInput();
}

LoginDialog::~LoginDialog() { release(); }

void LoginDialog::release() {
    for (auto& f : fields_) wipe_secret(f.text);
    if (window_ && !text_input_was_on_) SDL_StopTextInput();
    if (bold_) TTF_CloseFont(bold_);
    if (font_) TTF_CloseFont(font_);
    if (renderer_) SDL_DestroyRenderer(renderer_);
    if (window_) SDL_DestroyWindow(window_);
    if (ttf_) TTF_Quit();  // SDL2_ttf counts its users
    bold_ = font_ = nullptr;
    renderer_ = nullptr;
    window_ = nullptr;
    ttf_ = false;
}

void LoginDialog::set_failed_title(bool failed_attempt) {
    const std::string title = kLoginDialogTitle + broker_ + (failed_attempt ? kLoginFailedMark : "");
    SDL_SetWindowTitle(window_, title.c_str());
}

void LoginDialog::draw(const std::string& message, bool error) {
    auto px = [this](int points) { return static_cast<int>(std::lround(points * scale_)); };
    auto scaled = [&](const SDL_Rect& r) { return SDL_Rect{px(r.x), px(r.y), px(r.w), px(r.h)}; };
    fill(renderer_, {0, 0, px(kWidth), px(kHeight)}, kBackground);
    draw_text(renderer_, bold_, "Sign in to " + broker_, kInk, px(kPad), px(kPad), px(kWidth - 2 * kPad));
    const int line = TTF_FontLineSkip(font_);
    for (int i = 0; i < 2; ++i) {
        const SDL_Rect box = scaled(field_rect(i));
        draw_text(renderer_, font_, fields_[i].label, kInk, px(kPad), box.y + (box.h - line) / 2);
        framed(renderer_, box, kFieldBg, focus_ == i ? kFocus : kBorder, focus_ == i ? px(2) : px(1));
        // A masked field shows one bullet per character, so the password is never rendered.
        const std::string shown =
            fields_[i].masked ? [&] {
                std::string dots;
                for (std::size_t n = characters(fields_[i].text); n > 0; --n) dots += "\u2022";
                return dots;
            }()
                              : fields_[i].text;
        int text_w = 0;
        if (!shown.empty()) TTF_SizeUTF8(font_, shown.c_str(), &text_w, nullptr);
        // Text longer than the box shows its end, where the caret is.
        const SDL_Rect inner{box.x + px(6), box.y, box.w - px(12), box.h};
        const int x = inner.x - std::max(0, text_w + px(2) - inner.w);
        SDL_RenderSetClipRect(renderer_, &inner);
        draw_text(renderer_, font_, shown, kInk, x, box.y + (box.h - line) / 2);
        if (focus_ == i) fill(renderer_, {x + text_w + px(1), box.y + px(6), std::max(1, px(1)), box.h - px(12)}, kInk);
        SDL_RenderSetClipRect(renderer_, nullptr);
    }
    draw_text(renderer_, font_, message, error ? kError : kMuted, px(kPad), px(kMessageTop), px(kWidth - 2 * kPad));
    for (const auto& [rect, label, bg, ink] :
         {std::tuple{cancel_rect(), "Cancel", kCancelBg, kInk}, std::tuple{ok_rect(), "OK", kOkBg, kOkInk}}) {
        const SDL_Rect b = scaled(rect);
        framed(renderer_, b, bg, kBorder, px(1));
        int w = 0, h = 0;
        TTF_SizeUTF8(font_, label, &w, &h);
        draw_text(renderer_, font_, label, ink, b.x + (b.w - w) / 2, b.y + (b.h - h) / 2);
    }
    SDL_RenderPresent(renderer_);
}

LoginDialog::Hit LoginDialog::hit_at(int x, int y) const {
    // Mouse positions are in window units: the layout's points, unless --scale grew the window.
    int ww = kWidth, wh = kHeight;
    SDL_GetWindowSize(window_, &ww, &wh);
    const double per_point = std::max(1, ww) / static_cast<double>(kWidth);
    const int lx = static_cast<int>(x / per_point), ly = static_cast<int>(y / per_point);
    if (inside(field_rect(0), lx, ly)) return Hit::user;
    if (inside(field_rect(1), lx, ly)) return Hit::password;
    if (inside(ok_rect(), lx, ly)) return Hit::ok;
    if (inside(cancel_rect(), lx, ly)) return Hit::cancel;
    return Hit::none;
}

void LoginDialog::type_text(const char* utf8) {
    auto& text = fields_[focus_].text;
    const std::size_t n = std::strlen(utf8);
    if (text.size() + n <= kMaxField) text.append(utf8, n);
}

void LoginDialog::erase_last_character() {
    auto& text = fields_[focus_].text;
    while (!text.empty()) {
        const auto c = static_cast<unsigned char>(text.back());
        text.back() = '\0';
        text.pop_back();
        if ((c & 0xc0) != 0x80) break;  // the first byte of the character: done
    }
}

bool LoginDialog::ask(const std::string& message) {
    set_failed_title(!message.empty());
    if (!message.empty()) {  // after a failed attempt: the password again, from an empty field
        wipe_secret(fields_[1].text);
        focus_ = 1;
    }
    std::string shown = message;
    draw(shown, true);
    SDL_Event ev;
    while (SDL_WaitEvent(&ev)) {
        bool submit = false;
        switch (ev.type) {
            case SDL_QUIT: return false;
            case SDL_WINDOWEVENT:
                if (ev.window.event == SDL_WINDOWEVENT_CLOSE) return false;
                break;
            case SDL_TEXTINPUT:
                type_text(ev.text.text);
                explicit_bzero(ev.text.text, sizeof ev.text.text);  // SDL's copy of the characters
                break;
            case SDL_KEYDOWN:
                switch (ev.key.keysym.sym) {
                    case SDLK_ESCAPE: return false;
                    case SDLK_RETURN:
                    case SDLK_KP_ENTER: submit = true; break;
                    case SDLK_TAB: focus_ = 1 - focus_; break;  // two fields: Tab and Shift+Tab alike
                    case SDLK_BACKSPACE: erase_last_character(); break;
                    case SDLK_v:
                        // Paste (a password manager's copy): Ctrl+V, the clipboard's text wiped after.
                        if ((ev.key.keysym.mod & KMOD_CTRL) && SDL_HasClipboardText()) {
                            if (char* clip = SDL_GetClipboardText()) {
                                std::string line(clip, std::min(std::strlen(clip), kMaxField));
                                line = line.substr(0, line.find_first_of("\r\n"));
                                type_text(line.c_str());
                                wipe_secret(line);
                                explicit_bzero(clip, std::strlen(clip));
                                SDL_free(clip);
                            }
                        }
                        break;
                    default: break;
                }
                break;
            case SDL_MOUSEBUTTONDOWN:
                if (ev.button.button != SDL_BUTTON_LEFT) break;
                switch (hit_at(ev.button.x, ev.button.y)) {
                    case Hit::user: focus_ = 0; break;
                    case Hit::password: focus_ = 1; break;
                    case Hit::ok: submit = true; break;
                    case Hit::cancel: return false;
                    case Hit::none: break;
                }
                break;
            default: continue;  // nothing changed: no redraw
        }
        if (submit) {
            if (!fields_[0].text.empty()) return true;
            focus_ = 0;
            shown = "Enter a user name.";
        }
        draw(shown, true);
    }
    return false;
}

void LoginDialog::show_busy(const std::string& status) {
    set_failed_title(false);
    draw(status, false);
    SDL_PumpEvents();  // lets the window system see the new picture while the login runs
}

}  // namespace portico::client
