"""A small blog with logins: signed-cookie sessions, XSRF-protected forms, Jinja2
templates and static assets.

Run it with ``python -m tornadoish examples.blog_login:app`` and open
http://127.0.0.1:8888/ (any user name logs in; the password is ``letmein``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from tornadoish.web import Application, HTTPError, RequestHandler, authenticated

HERE = os.path.dirname(os.path.abspath(__file__))
PASSWORD = "letmein"


@dataclass
class Post:
    author: str
    title: str
    body: str


@dataclass
class Blog:
    posts: list[Post] = field(default_factory=list)


class BaseHandler(RequestHandler):
    def initialize(self, blog: Blog) -> None:
        self.blog = blog

    def get_current_user(self) -> Any:
        user = self.get_signed_cookie("user")
        return user.decode("utf-8") if user else None


class HomeHandler(BaseHandler):
    def get(self) -> None:
        self.render("home.html", posts=list(reversed(self.blog.posts)))


class LoginHandler(BaseHandler):
    def get(self) -> None:
        self.render("login.html", error=None, next_url=self.get_argument("next", "/"))

    def post(self) -> None:
        name = self.get_body_argument("name", "")
        next_url = self.get_body_argument("next", "/")
        if not name or self.get_body_argument("password", "") != PASSWORD:
            self.set_status(403)
            self.render("login.html", error="Wrong name or password", next_url=next_url)
            return
        self.set_signed_cookie("user", name, httponly=True, samesite="Lax")
        # Only local paths: a "next" pointing elsewhere would be an open redirect.
        self.redirect(
            next_url if next_url.startswith("/") and not next_url.startswith("//") else "/"
        )


class LogoutHandler(BaseHandler):
    def post(self) -> None:
        self.clear_cookie("user")
        self.redirect("/")


class ComposeHandler(BaseHandler):
    @authenticated
    def get(self) -> None:
        self.render("compose.html")

    @authenticated
    def post(self) -> None:
        title = self.get_body_argument("title").strip()
        if not title:
            raise HTTPError(400, reason="A post needs a title")
        self.blog.posts.append(Post(self.current_user, title, self.get_body_argument("body", "")))
        self.redirect(self.reverse_url("home"))


def make_app(cookie_secret: str = "change me: a long random string") -> Application:
    blog = Blog()
    return Application(
        [
            (r"/", HomeHandler, {"blog": blog}, "home"),
            (r"/login", LoginHandler, {"blog": blog}),
            (r"/logout", LogoutHandler, {"blog": blog}),
            (r"/compose", ComposeHandler, {"blog": blog}),
        ],
        cookie_secret=cookie_secret,
        xsrf_cookies=True,
        login_url="/login",
        template_path=os.path.join(HERE, "blog", "templates"),
        static_path=os.path.join(HERE, "blog", "static"),
    )


app = make_app()
