"""Flask extensions, created unbound and bound in ``create_app``."""

from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from engine.models import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
mail = Mail()
