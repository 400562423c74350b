"""Template rendering: ``render()``/``render_string()`` for RequestHandler (layer: framework).

Jinja2 (the ``templates`` extra) is the default engine, with autoescaping on. The
``template_loader`` setting accepts any object shaped like Tornado's loaders,
``loader.load(name).generate(**namespace) -> bytes``, so an existing
``tornado.template.Loader`` keeps working unchanged.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Protocol

from tornadoish.escape import json_encode, squeeze, url_escape, xhtml_escape

__all__ = ["JinjaLoader", "Template", "TemplateLoader", "TemplateMixin"]


class Template(Protocol):
    """What a loader's ``load()`` returns: Tornado's ``Template`` shape."""

    def generate(self, **namespace: Any) -> bytes:
        """Render the template with ``namespace`` and return the bytes."""
        ...


class TemplateLoader(Protocol):
    """What the ``template_loader`` setting accepts: Tornado's ``Loader`` shape, so a
    ``tornado.template.Loader`` works unchanged."""

    def load(self, name: str) -> Template:
        """The template called ``name`` (a path relative to the loader's root)."""
        ...


class _JinjaTemplate:
    __slots__ = ("_template",)

    def __init__(self, template: Any) -> None:
        self._template = template

    def generate(self, **namespace: Any) -> bytes:
        text: str = self._template.render(**namespace)
        return text.encode("utf-8")


class JinjaLoader:
    """A Tornado-shaped loader over a Jinja2 environment rooted at ``path``."""

    def __init__(self, path: str, autoescape: bool = True, **environment_options: Any) -> None:
        try:
            import jinja2
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise RuntimeError(
                "templates need Jinja2: pip install 'tornadoish[templates]', or set the "
                "template_loader setting to another Tornado-style loader"
            ) from None
        self.environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(path),
            autoescape=autoescape,
            **environment_options,
        )

    def load(self, name: str) -> _JinjaTemplate:
        """The Jinja2 template called ``name``, compiled once and cached by Jinja2."""
        return _JinjaTemplate(self.environment.get_template(name))


# Loaders are built once per template directory and shared by all handlers.
_loaders: dict[str, TemplateLoader] = {}
_loaders_lock = threading.Lock()


class TemplateMixin:
    """``render``/``render_string`` and the namespace templates see."""

    @property
    def settings(self) -> dict[str, Any]:
        """The application's settings (RequestHandler provides them)."""
        raise NotImplementedError  # RequestHandler provides the application's settings

    def get_template_path(self) -> str | None:
        """The directory templates load from: the ``template_path`` setting."""
        path: str | None = self.settings.get("template_path")
        return path

    def create_template_loader(self, template_path: str) -> TemplateLoader:
        """The loader for ``template_path``: the ``template_loader`` setting if given,
        else Jinja2 with autoescaping."""
        loader: TemplateLoader | None = self.settings.get("template_loader")
        if loader is not None:
            return loader
        return JinjaLoader(template_path)

    def get_template_namespace(self) -> dict[str, Any]:
        """Names every template sees; override to add your own."""
        handler: Any = self
        return {
            "handler": handler,
            "request": handler.request,
            "current_user": handler.current_user,
            "static_url": getattr(handler, "static_url", None),
            "xsrf_form_html": handler.xsrf_form_html,
            "reverse_url": handler.reverse_url,
            "xhtml_escape": xhtml_escape,
            "url_escape": url_escape,
            "json_encode": json_encode,
            "squeeze": squeeze,
        }

    def render_string(self, template_name: str, **kwargs: Any) -> bytes:
        """Render ``template_name`` with the namespace plus ``kwargs``; returns bytes."""
        template_path = self.get_template_path()
        if template_path is None:
            # As Tornado: templates sit beside the module that defines the handler.
            module = sys.modules.get(type(self).__module__)
            module_file = getattr(module, "__file__", None) or os.getcwd()
            template_path = os.path.dirname(os.path.abspath(module_file))
        loader: TemplateLoader | None = self.settings.get("template_loader")
        if loader is None:
            with _loaders_lock:
                loader = _loaders.get(template_path)
                if loader is None:
                    loader = self.create_template_loader(template_path)
                    _loaders[template_path] = loader
        namespace = self.get_template_namespace()
        namespace.update(kwargs)
        return loader.load(template_name).generate(**namespace)

    def render(self, template_name: str, **kwargs: Any) -> Any:
        """Render ``template_name`` and finish the response with it (returns the
        awaitable of ``finish()``)."""
        html = self.render_string(template_name, **kwargs)
        handler: Any = self
        return handler.finish(html)
