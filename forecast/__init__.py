"""Forecasting and early warning (预测预警): what each city will look like in the next hours.

- `forecast.targets`: what is forecast (AQI, expressway TPI, scenic visitors), from which gold view,
  at which horizons, and which alert rule a forecast can warn on;
- `forecast.history`: the same gold series computed from the simulator without Kafka or Spark, for
  the backtest (`bench/forecast_skill.py`) and the tests;
- `forecast.model`: direct multi-horizon gradient-boosted models (LightGBM) with conformal 80 %
  intervals, saved as versioned artefacts under the lakehouse root;
- `forecast.warnings`: forecast warnings (opened, updated, closed) in the alerts' own rows and messages;
- `forecast.backtest`: rolling-origin skill against persistence and seasonal-naive forecasts.

The Spark jobs that train and score on the lakehouse's gold are `jobs.forecast`.
"""
