#pragma once
// LoginDialog: the windowed client's graphical login prompt, for a client started without a
// terminal (from a desktop menu or a file manager; or forced with --login-dialog). A small SDL
// window naming the broker's host (whom the password goes to), a user name field (prefilled
// from --user), a masked password field, OK and Cancel; keys through SDL text input, so every
// layout and input method types into it. A failed login shows the broker's answer under the
// fields and the same window asks again. Text is drawn with SDL2_ttf in DejaVu Sans
// (fonts-dejavu-core), at the display's scale. The password lives in this object only, in a
// buffer that never reallocates, and is wiped (secret.hpp) on every new attempt and at the end.
// Main thread; SDL video must be initialised before one is made and quit after it is gone.

#include <optional>
#include <string>

struct SDL_Window;
struct SDL_Renderer;
typedef struct _TTF_Font TTF_Font;

namespace portico::client {

// The dialog's window title starts with this; a failed attempt appends kLoginFailedMark (tests
// and accessibility tools see the state in the title, not only in pixels).
inline constexpr const char* kLoginDialogTitle = "Portico: sign in to ";
inline constexpr const char* kLoginFailedMark = " (sign-in failed)";
// Where DejaVu Sans is in Debian's fonts-dejavu-core (a Depends of the portico-client package).
inline constexpr const char* kDialogFont = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
inline constexpr const char* kDialogBoldFont = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

class LoginDialog {
public:
    // broker: the host (and port) the dialog names; user: prefilled into its field (the password
    // field then has the focus); password: prefilled (masked) when --password-file or
    // PORTICO_PASSWORD gave one; scale: --scale, used when SDL reports no pixel ratio of its own
    // (X11). Throws std::runtime_error (SDL's or SDL2_ttf's message) if it cannot be shown.
    LoginDialog(const std::string& broker, const std::string& user, const std::string& password,
                std::optional<double> scale);
    ~LoginDialog();
    LoginDialog(const LoginDialog&) = delete;
    LoginDialog& operator=(const LoginDialog&) = delete;

    // Shows the dialog (with `message`, the last attempt's failure, under the fields when not
    // empty) until OK or Enter with a user name (true: user() and password() hold the answer) or
    // Cancel, Escape or the window closed (false).
    bool ask(const std::string& message);
    // Draws `status` ("Signing in ...") with the fields, without waiting: shown while the login
    // request runs on this thread.
    void show_busy(const std::string& status);

    const std::string& user() const { return fields_[0].text; }
    const std::string& password() const { return fields_[1].text; }

private:
    struct Field {
        std::string label;
        std::string text;
        bool masked = false;
    };
    enum class Hit { none, user, password, ok, cancel };

    void open(std::optional<double> scale);  // the window, renderer and fonts; throws
    void release();                          // what open made, and the fields wiped
    void draw(const std::string& message, bool error);
    Hit hit_at(int x, int y) const;
    void type_text(const char* utf8);
    void erase_last_character();
    void set_failed_title(bool failed);

    SDL_Window* window_ = nullptr;
    SDL_Renderer* renderer_ = nullptr;
    TTF_Font* font_ = nullptr;
    TTF_Font* bold_ = nullptr;
    bool ttf_ = false;
    bool text_input_was_on_ = true;
    std::string broker_;
    double scale_ = 1.0;  // output pixels per layout point
    Field fields_[2];
    int focus_ = 0;  // index into fields_
};

}  // namespace portico::client
