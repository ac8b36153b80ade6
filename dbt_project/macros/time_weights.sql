{#- Weights of an event by its age in days. Plain SQL: every adapter runs them
    as they are. -#}

{#- Exponential decay: an event half_life_days old counts half as much as a
    fresh one. -#}
{% macro decay_weight(age_days, half_life_days) -%}
    exp(-ln(2.0) * ({{ age_days }}) / ({{ half_life_days }}))
{%- endmacro %}

{#- The fixed long-term weight alpha(t) = 1 / (1 + e^(-k t)), t the age in days;
    the short-term weight is beta = 1 - alpha. -#}
{% macro alpha_weight(age_days, k) -%}
    1.0 / (1.0 + exp(-({{ k }}) * ({{ age_days }})))
{%- endmacro %}

{#- How much an event says about interest: a rating counts
    rating / 5 * var rating_scale, other types their var event_weights entry,
    unlisted types 0. -#}
{% macro event_weight(event_type, rating) -%}
    case
        when {{ event_type }} = 'rating'
            then coalesce({{ rating }}, 0) / 5.0 * {{ var('rating_scale') }}
        {%- for name, weight in var('event_weights').items()
            if name != 'rating' %}
        when {{ event_type }} = '{{ name }}' then {{ weight }}
        {%- endfor %}
        else 0.0
    end
{%- endmacro %}
