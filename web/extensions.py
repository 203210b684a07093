"""Flask extensions, created unbound and bound in ``create_app`` (flask-smorest's ``Api`` is the API's own,
``web/api``; flask-migrate is bound when ``aimsflow db`` runs, ``web/cli/migrations.py``)."""

from flask_login import LoginManager
from flask_mail import Mail
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from engine.core import Base

db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
mail = Mail()
